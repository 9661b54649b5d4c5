// The Broker conformance suite: every Broker implementation runs these same
// tests (test/integration/broker-<name>.test.ts calls brokerConformance).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import type { Broker, BrokerOptions, Delivery } from "../../src/brokers/broker.js";
import { encodeTask } from "../../src/protocol/message.js";
import { waitUntil } from "./wait.js";

export interface BrokerSuiteOptions {
  /** Makes a new, connected-on-demand broker; two calls must share the same store. */
  make: (opts?: BrokerOptions) => Promise<Broker>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How early a broker may hand out a message against the publisher's clock (timers and timestamps round). */
const CLOCK_TOLERANCE_MS = 50;

function msg(task = "t.noop", args: unknown[] = []) {
  return encodeTask({ task, args, kwargs: { k: "v" } });
}

export function brokerConformance(name: string, { make }: BrokerSuiteOptions): void {
  describe(`Broker conformance: ${name}`, () => {
    const open: Broker[] = [];
    const broker = async (opts?: BrokerOptions) => {
      const b = await make(opts);
      await b.connect();
      open.push(b);
      return b;
    };
    after(async () => {
      for (const b of open) await b.close();
    });
    const q = () => `conf-${randomUUID().slice(0, 8)}`;
    const headerIds = (ds: { message: { headers: Record<string, unknown> } }[]) => ds.map((d) => d.message.headers.id);

    it("delivers a message unchanged: headers, properties, body bytes", async () => {
      const b = await broker();
      const queue = q();
      const m = msg("t.add", [1, "ü", { nested: [1, 2] }]);
      await b.publish({ queue }, m);
      const [d] = await b.fetch([queue], { max: 10, waitMs: 1000, lease: true });
      assert.ok(d, "a delivery");
      assert.equal(d.queue, queue);
      assert.equal(d.redelivered, false);
      assert.deepEqual(d.message.body, m.body);
      assert.equal(d.message.contentType, m.contentType);
      assert.equal(d.message.headers.id, m.headers.id);
      assert.equal(d.message.headers.task, "t.add");
      assert.equal(d.message.properties.correlation_id, m.properties.correlation_id);
      await b.ack([d]);
    });

    it("a queue the next fetch no longer names (cancel_consumer) leaves its messages to another consumer; no queue at all resolves []", async () => {
      const a = await broker();
      const b = await broker();
      const queue = q();
      const ms = Array.from({ length: 3 }, () => msg());
      for (const m of ms) await a.publish({ queue }, m);
      // A window of 10: a push broker buffers all three, the caller takes one.
      const [first] = await a.fetch([queue], { max: 1, waitMs: 1000, lease: true, window: 10 });
      assert.ok(first, "a delivery");
      assert.deepEqual(await a.fetch([], { max: 10, waitMs: 0, lease: true, window: 10 }), []);
      const rest: Delivery[] = [];
      await waitUntil("the other two fetched by another consumer", async () => {
        rest.push(...(await b.fetch([queue], { max: 10, waitMs: 200, lease: false })));
        return rest.length >= 2;
      });
      assert.deepEqual(headerIds(rest).sort(), headerIds([{ message: ms[1]! }, { message: ms[2]! }]).sort());
      await a.ack([first]);
    });

    it("keeps FIFO order within one priority and honours max", async () => {
      const b = await broker();
      const queue = q();
      const ms = Array.from({ length: 5 }, () => msg());
      for (const m of ms) await b.publish({ queue }, m);
      const first = await b.fetch([queue], { max: 3, waitMs: 1000, lease: false });
      const rest = await b.fetch([queue], { max: 10, waitMs: 1000, lease: false });
      assert.deepEqual(
        [...headerIds(first), ...headerIds(rest)],
        ms.map((m) => m.headers.id),
      );
      assert.equal(first.length, 3);
    });

    it("serves priorities in the broker's order", async () => {
      const b = await broker();
      const queue = q();
      const low = msg();
      const high = msg();
      const mid = msg();
      const lowN = b.higherPriorityFirst ? 0 : 9;
      const highN = b.higherPriorityFirst ? 9 : 0;
      await b.publish({ queue }, low, { priority: lowN });
      await b.publish({ queue }, mid, { priority: 5 });
      await b.publish({ queue }, high, { priority: highN });
      const got: unknown[] = [];
      while (got.length < 3) {
        const ds = await b.fetch([queue], { max: 1, waitMs: 1000, lease: false });
        if (!ds.length) break;
        got.push(...headerIds(ds));
      }
      assert.deepEqual(got, [high.headers.id, mid.headers.id, low.headers.id]);
    });

    it("holds a message with an ETA until it is due (broker-side)", async () => {
      const b = await broker();
      const queue = q();
      const m = msg();
      const eta = Date.now() + 600;
      await b.publish({ queue }, m, { eta });
      // When it arrives is measured against its ETA, never against how fast this machine is.
      const got: unknown[] = [];
      let deliveredAt = 0;
      await waitUntil(
        "the message with an ETA to be delivered",
        async () => {
          const ds = await b.fetch([queue], { max: 1, waitMs: 200, lease: false });
          if (ds.length) {
            deliveredAt = Date.now();
            got.push(...headerIds(ds));
          }
          return got.length > 0;
        },
        30_000,
        0,
      );
      assert.deepEqual(got, [m.headers.id], "delivered once due");
      assert.ok(deliveredAt >= eta - CLOCK_TOLERANCE_MS, `delivered ${eta - deliveredAt} ms before its ETA`);
    });

    it("lists the messages waiting for their ETA, earliest first, and releases one now (brokers with scheduled())", async (t) => {
      const b = await broker();
      if (!b.scheduled || !b.releaseScheduled) return t.skip(`${name} cannot list scheduled messages`);
      const queue = q();
      const later = msg("t.later", [2]);
      const sooner = msg("t.sooner", [1]);
      const ready = msg();
      const soonerEta = Date.now() + 60_000;
      await b.publish({ queue }, later, { eta: Date.now() + 120_000 });
      await b.publish({ queue }, sooner, { eta: soonerEta, priority: 5 });
      await b.publish({ queue }, msg());
      await b.publish({ queue }, ready);
      assert.equal((await b.fetch([queue], { max: 1, waitMs: 1000, lease: true })).length, 1, "the first ready message leased");
      const listed = await b.scheduled(queue, 10);
      assert.equal(listed.total, 2, "neither ready nor leased messages are scheduled");
      assert.deepEqual(
        listed.messages.map((m) => m.message.headers.id),
        [sooner.headers.id, later.headers.id],
      );
      assert.equal(listed.messages[0]!.message.headers.task, "t.sooner");
      assert.ok(Math.abs(listed.messages[0]!.eta - soonerEta) <= CLOCK_TOLERANCE_MS, `eta ${listed.messages[0]!.eta} vs ${soonerEta}`);
      assert.deepEqual(
        (await b.scheduled(queue, 1)).messages.map((m) => m.message.headers.id),
        [sooner.headers.id],
        "limit",
      );
      assert.equal(await b.releaseScheduled(queue, later.headers.id as string), true);
      assert.equal(await b.releaseScheduled(queue, later.headers.id as string), false, "released once");
      assert.equal(await b.releaseScheduled(queue, "no-such-task"), false);
      const got = await b.fetch([queue], { max: 10, waitMs: 1000, lease: false });
      assert.deepEqual(headerIds(got).sort(), [ready.headers.id, later.headers.id].sort(), "the released message is ready now");
      const released = got.find((d) => d.message.headers.id === later.headers.id)!;
      assert.equal(released.message.headers.eta, null, "due now: its eta cleared");
      assert.equal(released.message.headers.task, "t.later");
      assert.deepEqual(released.message.body, later.body);
      assert.equal((await b.scheduled(queue, 10)).total, 1);
    });

    it("redelivers a leased message that is not acked within the visibility timeout", async () => {
      const b = await broker({ visibilityTimeout: 1 });
      const queue = q();
      const m = msg();
      await b.publish({ queue }, m);
      const [d] = await b.fetch([queue], { max: 1, waitMs: 1000, lease: true });
      assert.ok(d);
      assert.equal((await b.fetch([queue], { max: 1, waitMs: 300, lease: true })).length, 0, "invisible while leased");
      const again = await b.fetch([queue], { max: 1, waitMs: 4000, lease: true });
      assert.deepEqual(headerIds(again), [m.headers.id]);
      assert.equal(again[0]!.redelivered, true);
      await b.ack(again);
    });

    it("does not redeliver an acked message", async () => {
      const b = await broker({ visibilityTimeout: 1 });
      const queue = q();
      await b.publish({ queue }, msg());
      const ds = await b.fetch([queue], { max: 1, waitMs: 1000, lease: true });
      await b.ack(ds);
      assert.equal((await b.fetch([queue], { max: 1, waitMs: 1800, lease: true })).length, 0);
    });

    it("extendLease keeps a message invisible past the visibility timeout", async () => {
      const b = await broker({ visibilityTimeout: 1 });
      const queue = q();
      await b.publish({ queue }, msg());
      const ds = await b.fetch([queue], { max: 1, waitMs: 1000, lease: true });
      for (let i = 0; i < 4; i++) {
        await sleep(400);
        await b.extendLease(ds);
      }
      assert.equal((await b.fetch([queue], { max: 1, waitMs: 100, lease: true })).length, 0, "still leased after 1.6 s");
      await b.ack(ds);
    });

    it("reject with requeue delivers again; without requeue drops", async () => {
      const b = await broker();
      const queue = q();
      const m = msg();
      await b.publish({ queue }, m);
      const [d] = await b.fetch([queue], { max: 1, waitMs: 1000, lease: true });
      await b.reject(d!, true);
      const [d2] = await b.fetch([queue], { max: 1, waitMs: 1000, lease: true });
      assert.equal(d2?.message.headers.id, m.headers.id);
      await b.reject(d2!, false);
      assert.equal((await b.fetch([queue], { max: 1, waitMs: 200, lease: true })).length, 0);
    });

    it("fetch waits for a message published while it waits", async () => {
      const b = await broker();
      const queue = q();
      const m = msg();
      // A waitMs far longer than any slow machine needs to wake: coming back before it is up is the point.
      const waitMs = 60_000;
      const pending = b.fetch([queue], { max: 1, waitMs, lease: false });
      await sleep(100);
      const other = await broker();
      await other.publish({ queue }, m);
      const t0 = Date.now();
      const ds = await pending;
      assert.deepEqual(headerIds(ds), [m.headers.id]);
      assert.ok(Date.now() - t0 < waitMs / 2, "woke without waiting the whole waitMs");
    });

    it("returns nothing after waitMs on an empty queue", async () => {
      const b = await broker();
      const t0 = Date.now();
      const ds = await b.fetch([q()], { max: 5, waitMs: 300, lease: true });
      assert.equal(ds.length, 0);
      assert.ok(Date.now() - t0 >= 250);
    });

    it("consumes several queues", async () => {
      const b = await broker();
      const [qa, qb] = [q(), q()];
      await b.publish({ queue: qa }, msg());
      await b.publish({ queue: qb }, msg());
      const got: string[] = [];
      for (let i = 0; i < 4 && got.length < 2; i++) {
        for (const d of await b.fetch([qa, qb], { max: 10, waitMs: 500, lease: false })) got.push(d.queue);
      }
      assert.deepEqual(got.sort(), [qa, qb].sort());
    });

    it("an idle fetch over several queues wakes for a message on any of them; what arrives on the others meanwhile comes next, once each", async () => {
      const b = await broker();
      const p = await broker();
      const [qa, qb, qc] = [q(), q(), q()];
      const t0 = Date.now();
      const waiting = b.fetch([qa, qb, qc], { max: 10, waitMs: 8000, lease: true });
      await sleep(200); // the scenario, not a wait for a condition: the fetch is idle when the message comes
      const first = msg();
      await p.publish({ queue: qc }, first);
      const [woken, ...rest] = await waiting;
      assert.equal(rest.length, 0);
      assert.equal(woken?.message.headers.id, first.headers.id);
      assert.ok(Date.now() - t0 < 7000, "woken by the message, not at the end of the wait");
      await b.ack([woken!]);
      // Sharded Redis: the other queues' blocking pops may still be waiting, and take these.
      const later = [msg(), msg()];
      await Promise.all([p.publish({ queue: qa }, later[0]!), p.publish({ queue: qb }, later[1]!)]);
      const got: Delivery[] = [];
      for (let i = 0; i < 10 && got.length < 2; i++) got.push(...(await b.fetch([qa, qb, qc], { max: 10, waitMs: 1000, lease: true })));
      assert.deepEqual(headerIds(got).sort(), later.map((m) => m.headers.id).sort());
      await b.ack(got);
      for (const queue of [qa, qb, qc]) assert.equal(await p.size(queue), 0);
    });

    it("a message published while a consumer of several queues closes is not lost: the next consumer gets it", async () => {
      const b = await make();
      await b.connect();
      const p = await broker();
      const [qa, qb] = [q(), q()];
      const waiting = b.fetch([qa, qb], { max: 10, waitMs: 8000, lease: true });
      await sleep(200); // idle when the messages come
      await p.publish({ queue: qa }, msg());
      const [d] = await waiting;
      assert.ok(d);
      await b.ack([d]);
      const m = msg();
      await p.publish({ queue: qb }, m);
      await sleep(100); // a blocking pop still waiting on qb may take it before the close
      await b.close();
      const c = await broker();
      const again = await c.fetch([qb], { max: 10, waitMs: 3000, lease: true });
      assert.deepEqual(headerIds(again), [m.headers.id]);
      await c.ack(again);
    });

    it("counts and purges ready messages; a second connection sees the same queues", async () => {
      const b = await broker();
      const other = await broker();
      const queue = q();
      for (let i = 0; i < 3; i++) await b.publish({ queue }, msg());
      assert.equal(await other.size(queue), 3);
      assert.equal(await other.purge(queue), 3);
      assert.equal(await b.size(queue), 0);
    });
  });
}

/** Fanout (broadcast) conformance, for brokers that offer it. */
export function fanoutConformance(name: string, { make }: BrokerSuiteOptions): void {
  describe(`Broker fanout conformance: ${name}`, () => {
    it("delivers to every matching subscriber, not before it subscribed", async () => {
      const a = await make();
      const b = await make();
      await a.connect();
      await b.connect();
      assert.ok(a.publishFanout && a.subscribeFanout, "broker offers fanout");
      const exchange = `fan-${randomUUID().slice(0, 8)}`;
      await a.publishFanout(exchange, "task.sent", msg("before"));
      const gotA: string[] = [];
      const gotB: string[] = [];
      const offA = await a.subscribeFanout(exchange, "#", (m, key) => gotA.push(`${key}:${m.headers.task}`));
      const offB = await b.subscribeFanout!(exchange, "worker.*", (m, key) => gotB.push(`${key}:${m.headers.task}`));
      await a.publishFanout(exchange, "task.sent", msg("one"));
      await b.publishFanout!(exchange, "worker.heartbeat", msg("two"));
      await waitUntil("both subscribers to get their messages", () => gotA.length >= 2 && gotB.length >= 1, 10_000);
      assert.deepEqual(gotA, ["task.sent:one", "worker.heartbeat:two"]);
      assert.deepEqual(gotB, ["worker.heartbeat:two"]);
      await offA();
      await a.publishFanout(exchange, "task.sent", msg("after"));
      await sleep(300); // nothing to wait for: that nothing arrives in this time is the assertion
      assert.equal(gotA.length, 2, "nothing after unsubscribing");
      await offB();
      await a.close();
      await b.close();
    });
  });
}

/** Bound queues (declareQueue + publishDirect) conformance; `messageTtl` for brokers that drop messages past it. */
export function boundQueueConformance(name: string, { make, messageTtl = false }: BrokerSuiteOptions & { messageTtl?: boolean }): void {
  describe(`Broker bound queue conformance: ${name}`, () => {
    const open: Broker[] = [];
    const broker = async () => {
      const b = await make();
      await b.connect();
      open.push(b);
      assert.ok(b.declareQueue && b.publishDirect, "broker offers bound queues");
      return b as Broker & Required<Pick<Broker, "declareQueue" | "publishDirect">>;
    };
    after(async () => {
      for (const b of open) await b.close();
    });
    // One exchange for every run (keys are unique): runs leave nothing behind to clean up but it.
    const exchange = "celeriac.conformance.direct";
    const ids = (ds: { message: { headers: Record<string, unknown> } }[]) => ds.map((d) => d.message.headers.task);

    it("a declared queue receives what is published to its exchange and key, from another connection", async () => {
      const reader = await broker();
      const writer = await broker();

      const key = randomUUID();
      const stray = `stray-${randomUUID()}`;
      const queue = { name: `${key}.bound`, exchange, routingKey: key };
      const release = await reader.declareQueue(queue);
      await writer.publishDirect(exchange, key, msg("one"));
      await writer.publishDirect(exchange, stray, msg("stray"));
      const got = await reader.fetch([queue.name], { max: 10, waitMs: 2000, lease: false });
      assert.deepEqual(ids(got), ["one"]);
      assert.deepEqual(ids(await reader.fetch([queue.name], { max: 10, waitMs: 200, lease: false })), [], "the other key went elsewhere");
      assert.equal(await writer.size(stray), 0, "an unbound key reaches no queue");
      await release();
      await writer.publishDirect(exchange, key, msg("late"));
      assert.equal(await reader.size(queue.name), 0, "nothing reaches a released queue");
    });

    it("one key bound to two queues reaches both", async () => {
      const b = await broker();

      const [q1, q2] = [`b1-${randomUUID()}`, `b2-${randomUUID()}`];
      const releases = [await b.declareQueue({ name: q1, exchange, routingKey: q1 }), await b.declareQueue({ name: q2, exchange, routingKey: q1 })];
      await b.publishDirect(exchange, q1, msg("both"));
      await waitUntil("both queues to hold the message", async () => (await b.size(q1)) === 1 && (await b.size(q2)) === 1, 5000);
      for (const release of releases) await release();
    });

    if (messageTtl) {
      it("drops messages older than messageTtlMs", async () => {
        const b = await broker();

        const queue = { name: `ttl-${randomUUID()}`, exchange, routingKey: randomUUID(), messageTtlMs: 200, expiresMs: 60_000 };
        const release = await b.declareQueue(queue);
        await b.publishDirect(exchange, queue.routingKey, msg("short-lived"));
        await waitUntil("the message to expire", async () => (await b.size(queue.name)) === 0, 5000);
        assert.deepEqual(await b.fetch([queue.name], { max: 10, waitMs: 100, lease: false }), []);
        await release();
      });
    }
  });
}
