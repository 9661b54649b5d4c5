// Batched publisher confirms on a real RabbitMQ (src/brokers/amqp/publisher.ts):
// the sends of one turn go out in one write and wait for their confirms
// together, yet each send settles on its own message's fate: a nack rejects
// exactly the refused sends, and a connection lost mid-batch leaves no send
// unsettled and no resolved send missing from the queue.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createConnection as tcpConnect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import amqp from "amqplib";
import { AmqpBroker } from "../../src/brokers/amqp/index.js";
import { BrokerConnectionError, PublishNacked } from "../../src/errors.js";
import { encodeTask } from "../../src/protocol/message.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { waitUntil } from "../support/wait.js";

const skip = await requireRabbit();
const queues: string[] = [];
after(async () => {
  if (!skip) await deleteAmqpEntities({ queues, exchanges: queues });
});

function newQueue(): string {
  const q = `amqp-confirms-${randomUUID().slice(0, 8)}`;
  queues.push(q);
  return q;
}

/** A TCP proxy to the test's RabbitMQ whose connections the test cuts (a network blip), or that it shuts for good. */
async function proxy(): Promise<{ url: string; cut(): void; shut(): Promise<void> }> {
  const rabbit = new URL(AMQP_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(rabbit.port || 5672), rabbit.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = new URL(AMQP_URL);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as AddressInfo).port);
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: url.toString(),
    cut,
    shut: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      cut();
      await closed;
    },
  };
}

/** The task ids in a queue, read (and removed) with a plain amqplib consumer. */
async function idsIn(queue: string): Promise<Set<string>> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const { messageCount } = await ch.checkQueue(queue);
    const ids = new Set<string>();
    let seen = 0;
    await ch.prefetch(1000);
    await new Promise<void>((resolve) => {
      if (messageCount === 0) return resolve();
      void ch.consume(
        queue,
        (m) => {
          if (!m) return;
          ids.add(String(m.properties.headers?.id));
          if (++seen === messageCount) resolve();
        },
        { noAck: true },
      );
    });
    return ids;
  } finally {
    await conn.close();
  }
}

interface Outcome {
  id: string;
  state: "pending" | "resolved" | "rejected";
  error?: unknown;
}

/** Publishes `n` messages in one turn; each send's outcome is recorded as it settles. */
function publishAll(broker: AmqpBroker, queue: string, n: number): Outcome[] {
  const outcomes: Outcome[] = [];
  for (let i = 0; i < n; i++) {
    const m = encodeTask({ task: "t.confirm", args: [i] });
    const o: Outcome = { id: String(m.headers.id), state: "pending" };
    outcomes.push(o);
    broker.publish({ queue }, m).then(
      () => (o.state = "resolved"),
      (error: unknown) => Object.assign(o, { state: "rejected", error }),
    );
  }
  return outcomes;
}

const count = (outcomes: Outcome[], state: Outcome["state"]) => outcomes.filter((o) => o.state === state).length;

describe("AMQP publisher confirms, batched", { skip: skip ?? false }, () => {
  it("a nack renews the publish channel: sends in flight on the old one settle, and the next ones go out on the new one", async () => {
    // RabbitMQ 3.10 goes on nacking every publish of a channel that published to a
    // quorum queue while it had no leader; a new channel is accepted (session.ts).
    const full = newQueue();
    const other = newQueue();
    const broker = new AmqpBroker(AMQP_URL, {
      topology: { taskQueues: [{ name: full, queueArguments: { "x-max-length": 1, "x-overflow": "reject-publish" } }, { name: other }] },
    });
    const pubChannel = () => (broker as unknown as { session: { current: { pub: unknown } | null } }).session.current?.pub;
    try {
      await broker.connect();
      await broker.publish({ queue: other }, encodeTask({ task: "t.before" }));
      const first = pubChannel();
      const refused = publishAll(broker, full, 3);
      const alongside = publishAll(broker, other, 10);
      await waitUntil("every send to settle", () => count(refused, "pending") + count(alongside, "pending") === 0, 10_000);
      assert.deepEqual(
        refused.map((o) => o.state),
        ["resolved", "rejected", "rejected"],
      );
      assert.equal(count(alongside, "resolved"), 10, "the sends beside the refused ones are confirmed");
      await waitUntil("a new publish channel", () => pubChannel() !== first && pubChannel() !== undefined, 5_000);
      const after = publishAll(broker, other, 10);
      await waitUntil("the sends on the new channel to settle", () => count(after, "pending") === 0, 10_000);
      assert.equal(count(after, "resolved"), 10);
      assert.equal((await idsIn(other)).size, 21, "every confirmed send is in the queue");
    } finally {
      await broker.close();
    }
  });

  it("a nack rejects exactly the refused sends (x-max-length 5, x-overflow reject-publish)", async () => {
    const queue = newQueue();
    const broker = new AmqpBroker(AMQP_URL, {
      topology: { taskQueues: [{ name: queue, queueArguments: { "x-max-length": 5, "x-overflow": "reject-publish" } }] },
    });
    try {
      await broker.connect();
      const outcomes = publishAll(broker, queue, 12);
      await waitUntil("every send to settle", () => count(outcomes, "pending") === 0, 10_000);
      assert.deepEqual(
        outcomes.map((o) => o.state),
        [...Array(5).fill("resolved"), ...Array(7).fill("rejected")],
      );
      for (const o of outcomes.slice(5)) assert.ok(o.error instanceof PublishNacked, `a PublishNacked, not ${String(o.error)}`);
      assert.deepEqual(
        [...(await idsIn(queue))].sort(),
        outcomes
          .slice(0, 5)
          .map((o) => o.id)
          .sort(),
      );
      // The channel survives a nack: the next send goes through.
      await broker.purge(queue);
      await broker.publish({ queue }, encodeTask({ task: "t.after" }));
      assert.equal(await broker.size(queue), 1);
    } finally {
      await broker.close();
    }
  });

  it("a message that cannot be encoded rejects its own send only", async () => {
    const queue = newQueue();
    const broker = new AmqpBroker(AMQP_URL);
    try {
      const good = [encodeTask({ task: "t.good" }), encodeTask({ task: "t.good" })];
      const bad = encodeTask({ task: "t.bad" });
      bad.contentType = "x".repeat(300); // a shortstr field: at most 255 bytes
      const results = await Promise.allSettled([broker.publish({ queue }, good[0]!), broker.publish({ queue }, bad), broker.publish({ queue }, good[1]!)]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "rejected", "fulfilled"],
      );
      assert.match(String((results[1] as PromiseRejectedResult).reason), /contentType/);
      assert.deepEqual([...(await idsIn(queue))].sort(), good.map((m) => String(m.headers.id)).sort());
    } finally {
      await broker.close();
    }
  });

  it("a connection cut mid-batch: every send settles, the unconfirmed go again, every resolved one is in the queue", { timeout: 60_000 }, async () => {
    const queue = newQueue();
    const p = await proxy();
    const broker = new AmqpBroker(p.url);
    try {
      await broker.publish({ queue }, encodeTask({ task: "t.declare" }));
      await broker.purge(queue);
      const outcomes = publishAll(broker, queue, 20_000);
      await waitUntil("the first confirms", () => count(outcomes, "resolved") > 0, 20_000);
      p.cut();
      const inFlight = count(outcomes, "pending");
      assert.ok(inFlight > 0, "some sends were unconfirmed when the connection went");
      await waitUntil("every send to settle", () => count(outcomes, "pending") === 0, 50_000);
      assert.equal(count(outcomes, "rejected"), 0, "a blip: the unconfirmed sends went again on the next connection");
      const ids = await idsIn(queue);
      const missing = outcomes.filter((o) => !ids.has(o.id));
      assert.equal(missing.length, 0, "every resolved send is in the queue");
    } finally {
      await broker.close();
      await p.shut();
    }
  });

  it("a connection lost for good mid-batch: the confirmed resolve, the rest reject, none silently", { timeout: 60_000 }, async () => {
    const queue = newQueue();
    const p = await proxy();
    const broker = new AmqpBroker(p.url, { maxRetries: 2 });
    try {
      await broker.publish({ queue }, encodeTask({ task: "t.declare" }));
      await broker.purge(queue);
      const outcomes = publishAll(broker, queue, 20_000);
      await waitUntil("the first confirms", () => count(outcomes, "resolved") > 0, 20_000);
      await p.shut();
      await waitUntil("every send to settle", () => count(outcomes, "pending") === 0, 50_000);
      const rejected = outcomes.filter((o) => o.state === "rejected");
      assert.ok(rejected.length > 0, "the sends unconfirmed when the connection went are rejected");
      for (const o of rejected) assert.ok(o.error instanceof BrokerConnectionError, `a BrokerConnectionError, not ${String(o.error)}`);
      const ids = await idsIn(queue);
      const lost = outcomes.filter((o) => o.state === "resolved" && !ids.has(o.id));
      assert.equal(lost.length, 0, "every resolved send is in the queue");
    } finally {
      await broker.close();
    }
  });
});
