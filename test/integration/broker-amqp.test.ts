import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import amqp from "amqplib";
import { encodeTask } from "../../src/protocol/message.js";
import { waitUntil } from "../support/wait.js";
import { AmqpBroker } from "../../src/brokers/amqp/index.js";
import type { Live } from "../../src/brokers/amqp/session.js";
import type { Delivery } from "../../src/brokers/broker.js";
import { createBroker } from "../../src/brokers/index.js";
import { boundQueueConformance, brokerConformance, fanoutConformance } from "../support/broker-suite.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";

const skip = await requireRabbit();
if (skip) {
  console.log(`# SKIP broker-amqp: ${skip}`);
} else {
  const made: AmqpBroker[] = [];
  after(async () => {
    // The suite's queues are uniquely named: delete them so the shared server stays clean.
    // Each got an exchange of its own name too (Celery's rule for queues not in taskQueues).
    const queues = [...new Set(made.flatMap((b) => [...b.declaredQueues]))];
    await deleteAmqpEntities({ queues, exchanges: queues });
  });
  fanoutConformance("amqp", { make: async (opts) => (await createBroker(AMQP_URL, opts)) as AmqpBroker });
  boundQueueConformance("amqp", { make: async (opts) => (await createBroker(AMQP_URL, opts)) as AmqpBroker, messageTtl: true });
  brokerConformance("amqp", {
    make: async (opts) => {
      // Priorities need x-max-priority on the queue (as in Celery, only when configured).
      const b = (await createBroker(AMQP_URL, { ...opts, topology: { taskQueueMaxPriority: 10 } })) as AmqpBroker;
      made.push(b);
      return b;
    },
  });
}

describe("AMQP broker specifics", { skip: skip ?? false }, () => {
  it("an exchange a peer declared otherwise (406 PRECONDITION_FAILED) still takes broadcasts", async () => {
    const exchange = `amqp-peer-${randomUUID().slice(0, 8)}`;
    const conn = await amqp.connect(AMQP_URL);
    const b = (await createBroker(AMQP_URL)) as AmqpBroker;
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange(exchange, "direct", { durable: false });
      const q = await ch.assertQueue("", { exclusive: true });
      await ch.bindQueue(q.queue, exchange, "key");
      await b.publishFanout(exchange, "key", encodeTask({ task: "t.peer" }), { type: "fanout", durable: false });
      await waitUntil("the broadcast to reach the peer's queue", async () => (await ch.checkQueue(q.queue)).messageCount === 1, 5000);
    } finally {
      await b.close();
      await deleteAmqpEntities({ exchanges: [exchange] });
      await conn.close();
    }
  });

  it("quorum queues (taskQueues queueArguments x-queue-type): publish, ETA, fetch, reject, ack", async () => {
    const queue = `amqp-quorum-${randomUUID().slice(0, 8)}`;
    const b = (await createBroker(AMQP_URL, { topology: { taskQueues: [{ name: queue, queueArguments: { "x-queue-type": "quorum" } }] } })) as AmqpBroker;
    try {
      const now = encodeTask({ task: "t.now" });
      const later = encodeTask({ task: "t.later" });
      // `now` first: under load the delay cascade's first declaration can outlast the ETA.
      await b.publish({ queue }, now);
      // Far enough out that the reject and the second fetch are over before it is due, even under load
      // (a requeued message on a quorum queue may go behind one the cascade delivered meanwhile).
      const eta = Date.now() + 2500;
      await b.publish({ queue }, later, { eta });
      const [d] = await b.fetch([queue], { max: 1, waitMs: 2000, lease: true });
      assert.equal(d?.message.headers.id, now.headers.id);
      await b.reject(d!, true);
      const again = await b.fetch([queue], { max: 1, waitMs: 2000, lease: true });
      assert.equal(again[0]?.message.headers.id, now.headers.id);
      assert.equal(again[0]?.redelivered, true);
      await b.ack(again);
      const due = await b.fetch([queue], { max: 1, waitMs: 8000, lease: true });
      assert.equal(due[0]?.message.headers.id, later.headers.id);
      assert.ok(Date.now() >= eta, "delivered before its ETA");
      await b.ack(due);
    } finally {
      await b.close();
      await deleteAmqpEntities({ queues: [queue], exchanges: [queue] });
    }
  });

  it("a consumer RabbitMQ stops serving while its queue holds messages is noticed, and consumes again", async () => {
    const queue = `amqp-stall-${randomUUID().slice(0, 8)}`;
    const b = new AmqpBroker(AMQP_URL, { consumerStallTimeout: 0.3 });
    try {
      assert.deepEqual(await b.fetch([queue], { max: 10, waitMs: 50, lease: true }), []);
      // The stall, made by hand: the consumer cancelled on the real channel behind the broker's back,
      // so RabbitMQ delivers nothing more and says nothing (as after the cluster failover seen in
      // docs/high-availability.md).
      const inside = b as unknown as { session: { current: Live }; consumer: { consuming: Map<string, string | null> } };
      await inside.session.current.sub.cancel(inside.consumer.consuming.get(queue)!);
      const m = encodeTask({ task: "t.stalled" });
      await b.publish({ queue }, m);
      const got: Delivery[] = [];
      await waitUntil(
        "the message to arrive once the stalled consumer consumes again",
        async () => {
          got.push(...(await b.fetch([queue], { max: 10, waitMs: 200, lease: true })));
          return got.length > 0;
        },
        15_000,
      );
      assert.deepEqual(
        got.map((d) => d.message.headers.id),
        [m.headers.id],
      );
      await b.ack(got);
    } finally {
      await b.close();
      await deleteAmqpEntities({ queues: [queue], exchanges: [queue] });
    }
  });

  it("a queue a fetch no longer asks for gives its buffered messages back (cancel_consumer)", async () => {
    const a = (await createBroker(AMQP_URL)) as AmqpBroker;
    const b = (await createBroker(AMQP_URL)) as AmqpBroker;
    const [q1, q2] = [`amqp-x-${randomUUID().slice(0, 8)}`, `amqp-x-${randomUUID().slice(0, 8)}`];
    try {
      const m = encodeTask({ task: "t.x" });
      await a.publish({ queue: q2 }, m);
      const first = await a.fetch([q1, q2], { max: 10, waitMs: 300, lease: true });
      await a.reject(first[0]!, true); // back in a's buffer or in the queue: either way not taken
      await a.fetch([q1], { max: 10, waitMs: 200, lease: true });
      const got = await b.fetch([q2], { max: 10, waitMs: 3000, lease: true });
      assert.deepEqual(
        got.map((d) => d.message.headers.id),
        [m.headers.id],
      );
      await b.ack(got);
    } finally {
      await a.close();
      await b.close();
      await deleteAmqpEntities({ queues: [q1, q2], exchanges: [q1, q2] });
    }
  });
});
