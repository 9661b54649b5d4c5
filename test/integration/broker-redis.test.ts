import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import type { Delivery } from "../../src/brokers/broker.js";
import { RedisBroker } from "../../src/brokers/redis/index.js";
import { encodeTask } from "../../src/protocol/message.js";
import { boundQueueConformance, brokerConformance, fanoutConformance } from "../support/broker-suite.js";
import { waitUntil } from "../support/wait.js";
import { rawClient, redisAvailable, redisUrl, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";

// Database 1: the queues have random names, so runs never see each other's messages.
const available = await redisAvailable();
if (available) {
  brokerConformance("redis", { make: async (opts) => new RedisBroker(redisUrl(1), opts) });
  fanoutConformance("redis", { make: async (opts) => new RedisBroker(redisUrl(1), opts) });
  boundQueueConformance("redis", { make: async (opts) => new RedisBroker(redisUrl(1), opts) });

  // Redis 6.2 has no BLMPOP: the broker falls back to BRPOP, one message per blocking pop.
  const withoutBlmpop = await startOwnRedis(await freePort(), ["--rename-command", "BLMPOP", ""]);
  brokerConformance("redis without BLMPOP", { make: async (opts) => new RedisBroker(withoutBlmpop.url(0), opts) });
}

describe("redis broker: fetching after a blocking pop", { skip: !available }, () => {
  const brokers: RedisBroker[] = [];
  const broker = () => {
    const b = new RedisBroker(redisUrl(1));
    brokers.push(b);
    return b;
  };
  const raw = rawClient(1);
  after(async () => {
    for (const b of brokers) await b.close();
    raw.disconnect();
  });
  const msg = () => encodeTask({ task: "t.noop", args: [] });

  it("a backlog arriving after the queue was emptied comes in leased batches", async () => {
    const consumer = broker();
    const producer = broker();
    const queue = `pop-${randomUUID().slice(0, 8)}`;
    const waiting = consumer.fetch([queue], { max: 100, waitMs: 3000, lease: true });
    await new Promise((r) => setTimeout(r, 100));
    await producer.publish({ queue }, msg());
    assert.equal((await waiting).length, 1, "the blocking pop hands over the one message");
    const backlog = Array.from({ length: 300 }, () => msg());
    await Promise.all(backlog.map((m) => producer.publish({ queue }, m)));
    const sizes: number[] = [];
    const taken: Delivery[] = [];
    while (taken.length < backlog.length) {
      const ds = await consumer.fetch([queue], { max: 100, waitMs: 1000, lease: true });
      assert.ok(ds.length, "nothing left behind");
      sizes.push(ds.length);
      taken.push(...ds);
    }
    // At most one small unleased pop, then full batches from the script.
    assert.ok(sizes[0]! <= 10, `first fetch took ${sizes[0]}`);
    assert.deepEqual(sizes.slice(1, 3), [100, 100]);
    // The pop's leases are written at the end of its turn.
    const unleased = async () => (await raw.hmget("unacked", ...taken.map((d) => d.tag))).filter((e) => e === null).length;
    await waitUntil("every message of the backlog to be leased", async () => (await unleased()) === 0, 5000);
    await consumer.ack(taken);
    assert.deepEqual(
      await raw.hmget("unacked", ...taken.map((d) => d.tag)),
      taken.map(() => null),
    );
  });

  it("a message scheduled elsewhere is moved to its queue on time while the fetch loop keeps popping", async () => {
    const consumer = broker();
    const producer = broker();
    const scheduler = broker();
    const queue = `pop-${randomUUID().slice(0, 8)}`;
    const scheduled = msg();
    let stop = false;
    // A steady trickle: every fetch is answered by the blocking pop, so the loop skips its script.
    const trickle = (async () => {
      while (!stop) {
        await producer.publish({ queue }, msg());
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    let dueAt = 0;
    setTimeout(() => {
      dueAt = Date.now() + 300;
      void scheduler.publish({ queue }, scheduled, { eta: dueAt });
    }, 300);
    let seenAt = 0;
    let trickling = false;
    // Delivered while the trickle still answers every fetch, and not before its ETA: when
    // exactly is up to how loaded this machine is, so no upper bound but the generous timeout.
    await waitUntil(
      "the scheduled message to be delivered while the trickle runs",
      async () => {
        const ds = await consumer.fetch([queue], { max: 10, waitMs: 1000, lease: true });
        if (ds.some((d) => d.message.headers.id === scheduled.headers.id)) [seenAt, trickling] = [Date.now(), !stop];
        await consumer.ack(ds);
        return seenAt > 0;
      },
      30_000,
      0,
    );
    stop = true;
    await trickle;
    assert.ok(trickling, "delivered while other messages kept the blocking pop busy");
    assert.ok(dueAt > 0 && seenAt >= dueAt - 50, `delivered ${dueAt - seenAt} ms before its ETA`);
  });
});

describe("redis broker: a declared queue's lifetime", { skip: !available }, () => {
  it("a reply list whose requester never released it expires (its TTL is the declared lifetime)", async () => {
    const broker = new RedisBroker(redisUrl(1));
    const redis = rawClient(1);
    after(async () => {
      await broker.close();
      redis.disconnect();
    });
    const exchange = "celeriac.test.lifetime";
    const queue = { name: `lifetime-${randomUUID()}`, exchange, routingKey: randomUUID(), messageTtlMs: 300, expiresMs: 200 };
    await broker.declareQueue(queue); // never released: the requester "died"
    await broker.publishDirect(exchange, queue.routingKey, encodeTask({ task: "reply" }));
    const ttl = await redis.pttl(queue.name);
    assert.ok(ttl > 0 && ttl <= 300, `the list has the longer of the two lifetimes as its TTL (pttl ${ttl})`);
    await waitUntil("the list to expire", async () => (await redis.exists(queue.name)) === 0, 5000);
    const plain = `plain-${randomUUID()}`;
    const release = await broker.declareQueue({ name: plain, exchange, routingKey: plain });
    await broker.publishDirect(exchange, plain, encodeTask({ task: "reply" }));
    assert.equal(await redis.pttl(plain), -1, "a queue declared without a lifetime keeps its messages");
    await release();
  });
});
