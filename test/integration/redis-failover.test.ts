// Failover URL lists on Redis ("redis://a;redis://b", kombu's alternates): two
// private servers, the first one killed under a worker and a producer, which
// both move to the second; a first server down at startup is passed over at
// once. Each server keeps its own data (no replication between them): what
// was queued on the dead one stays there, as with Celery.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { RedisBroker } from "../../src/brokers/redis/index.js";
import { encodeTask } from "../../src/protocol/message.js";
import { freePort } from "../support/ports.js";
import { startWorker } from "../support/processes.js";
import { redisAvailable, startOwnRedis } from "../support/redis.js";

const redisUp = await redisAvailable();
const PASSWORD = "fail/over@secret";

describe("Redis failover URL lists", { skip: !redisUp }, () => {
  // Closed at the end of each test, before the servers its after() hooks stop.
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  });

  it("a worker and a producer move to the next server when theirs is killed", { timeout: 60_000 }, async () => {
    const a = await startOwnRedis(await freePort(), ["--requirepass", PASSWORD], PASSWORD);
    const b = await startOwnRedis(await freePort(), ["--requirepass", PASSWORD], PASSWORD);
    const list = `${a.url(0)};${b.url(0)}`;
    const env = { CELERIAC_BROKER_URL: list, CELERIAC_RESULT_BACKEND: list, CELERIAC_TASK_DEFAULT_QUEUE: "failover" };
    const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "4", "-l", "info"], env);
    closers.push(() => worker.stop());
    // A list in code, as Celery's broker_url may be.
    const app = new Celeriac({ name: "failover-producer", broker: [a.url(0), b.url(0)], backend: list, taskDefaultQueue: "failover" });
    closers.push(() => app.close());

    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => app.sendTask<number>("fixture.add", [i, 1]).get({ timeout: 10_000 })));
    assert.deepEqual(
      before,
      Array.from({ length: 20 }, (_, i) => i + 1),
      "served by the first server",
    );

    await a.kill();
    const killedAt = Date.now();
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => app.sendTask<number>("fixture.add", [i, 100]).get({ timeout: 20_000 })));
    assert.deepEqual(
      after,
      Array.from({ length: 20 }, (_, i) => i + 100),
      "served by the second server",
    );
    const seconds = (Date.now() - killedAt) / 1000;
    assert.ok(seconds < 15, `moved within ${seconds} s`);

    const out = worker.output();
    assert.match(out, new RegExp(`lost \\(.*\\); moving to redis://:\\*\\*\\*@127\\.0\\.0\\.1:${b.port}/0`), "the worker says where it moved");
    assert.ok(!out.includes(PASSWORD) && !out.includes(encodeURIComponent(PASSWORD)), "no password in the worker's output");
    assert.equal(worker.proc.exitCode, null, "the worker lives");
  });

  it("passes over a first server that is down at startup without waiting for the startup retry", { timeout: 30_000 }, async () => {
    const b = await startOwnRedis(await freePort());
    const down = `redis://127.0.0.1:${await freePort()}/0`;
    const broker = new RedisBroker(`${down};${b.url(0)}`);
    closers.push(() => broker.close());
    const started = Date.now();
    await broker.connect();
    assert.ok(Date.now() - started < 1500, `connected to the second server in ${Date.now() - started} ms`);
    await broker.publish({ queue: "failover-startup" }, encodeTask({ task: "t.noop", args: [] }));
    assert.equal(await broker.size("failover-startup"), 1);
  });

  it("follows the failover strategy it is given (Celery's broker_failover_strategy)", { timeout: 30_000 }, async () => {
    const a = await startOwnRedis(await freePort());
    const b = await startOwnRedis(await freePort());
    const lastFirst = function* (urls: readonly string[]) {
      for (;;) yield* [...urls].reverse();
    };
    const broker = new RedisBroker(`${a.url(0)};${b.url(0)}`, { failoverStrategy: lastFirst });
    closers.push(() => broker.close());
    await broker.publish({ queue: "failover-strategy" }, encodeTask({ task: "t.noop", args: [] }));
    const onB = new RedisBroker(b.url(0));
    closers.push(() => onB.close());
    assert.equal(await onB.size("failover-strategy"), 1, "the message went to the server the strategy named first");
  });

  it("all servers down: connecting fails with the masked list, after trying each", { timeout: 30_000 }, async () => {
    const pw = encodeURIComponent(PASSWORD);
    const list = `redis://:${pw}@127.0.0.1:${await freePort()}/0;redis://:${pw}@127.0.0.1:${await freePort()}/0`;
    const broker = new RedisBroker(list);
    closers.push(() => broker.close());
    await assert.rejects(
      () => broker.connect(),
      (err: Error) => err.name === "BrokerConnectionError" && err.message.includes("redis://:***@127.0.0.1") && !err.message.includes(pw),
    );
  });
});
