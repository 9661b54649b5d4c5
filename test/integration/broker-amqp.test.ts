import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { encodeTask } from "../../src/protocol/message.js";
import type { AmqpBroker } from "../../src/brokers/amqp/index.js";
import { createBroker } from "../../src/brokers/index.js";
import { brokerConformance, fanoutConformance } from "../support/broker-suite.js";
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
  it("quorum queues (taskQueues queueArguments x-queue-type): publish, ETA, fetch, reject, ack", async () => {
    const queue = `amqp-quorum-${randomUUID().slice(0, 8)}`;
    const b = (await createBroker(AMQP_URL, { topology: { taskQueues: [{ name: queue, queueArguments: { "x-queue-type": "quorum" } }] } })) as AmqpBroker;
    try {
      const now = encodeTask({ task: "t.now" });
      const later = encodeTask({ task: "t.later" });
      await b.publish({ queue }, later, { eta: Date.now() + 500 });
      await b.publish({ queue }, now);
      const [d] = await b.fetch([queue], { max: 1, waitMs: 2000, lease: true });
      assert.equal(d?.message.headers.id, now.headers.id);
      await b.reject(d!, true);
      const again = await b.fetch([queue], { max: 1, waitMs: 2000, lease: true });
      assert.equal(again[0]?.message.headers.id, now.headers.id);
      assert.equal(again[0]?.redelivered, true);
      await b.ack(again);
      const due = await b.fetch([queue], { max: 1, waitMs: 3000, lease: true });
      assert.equal(due[0]?.message.headers.id, later.headers.id);
      await b.ack(due);
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
      assert.deepEqual(got.map((d) => d.message.headers.id), [m.headers.id]);
      await b.ack(got);
    } finally {
      await a.close();
      await b.close();
      await deleteAmqpEntities({ queues: [q1, q2], exchanges: [q1, q2] });
    }
  });
});
