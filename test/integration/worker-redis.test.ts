// A real worker process on Redis: tasks run, scheduled tasks wait broker-side
// and run exactly once even when their countdown outlasts the visibility timeout.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";

const DB = 3;
const available = await redisAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("worker on redis", { skip: !available }, () => {
  const queue = `wr-${randomUUID().slice(0, 8)}`;
  const env = {
    CELERIAC_BROKER_URL: redisUrl(DB),
    CELERIAC_RESULT_BACKEND: redisUrl(DB),
    CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ visibilityTimeout: 2 }),
  };
  const app = new Celeriac({ name: "producer", broker: redisUrl(DB), backend: redisUrl(DB) });
  let workers: RunningProcess[] = [];

  before(async () => {
    workers = await Promise.all(["a", "b"].map((n) => startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "4", "-Q", queue, "-n", `${n}@%h`], env)));
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await app.close();
  });

  it("runs tasks sent by a Celeriac producer, args and kwargs", async () => {
    const r = app.sendTask<number>("fixture.add", [2, 3], undefined, { queue });
    assert.equal(await r.get({ timeout: 10_000 }), 5);
    const k = app.sendTask("fixture.kwargs", [1], { b: 2 }, { queue });
    assert.deepEqual(await k.get({ timeout: 10_000 }), { a: 1, b: 2 });
  });

  it("a countdown longer than the visibility timeout runs exactly once, with two workers", async () => {
    const sent = Date.now();
    const r = app.sendTask<number>("fixture.add", [20, 22], undefined, { queue, countdown: 10 });
    await r.sent;
    const redis = rawClient(DB);
    try {
      assert.equal(await redis.zcard(`_celeriac.schedule.${queue}`), 1, "kept in the broker-side schedule");
      assert.equal(await redis.llen(queue), 0, "not in the queue before it is due");
    } finally {
      redis.disconnect();
    }
    assert.equal(await r.get({ timeout: 20_000 }), 42);
    assert.ok(Date.now() - sent >= 9_900, "not run before its countdown");
    await sleep(4_500); // two more visibility periods: a redelivery would show now
    const runs = workers.reduce((n, w) => n + count(w.output(), `fixture.add[${r.id}] succeeded`), 0);
    assert.equal(runs, 1, "ran exactly once");
  });

  it("warm shutdown with a backlog: what the worker held goes back to the queue at once, none waits in unacked", async () => {
    // Its own queue and worker, with kombu's default visibility timeout (1 h): a
    // message left leased would not come back during the test. Short tasks and a
    // deep backlog, so the worker is mid-fetch (it asks for the next batch before
    // running the last) when it is told to stop.
    const own = `wr-stop-${randomUUID().slice(0, 8)}`;
    const n = 5000;
    const w = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "50", "-Q", own, "-n", "stopper@%h"], {
      CELERIAC_BROKER_URL: redisUrl(DB),
      CELERIAC_RESULT_BACKEND: redisUrl(DB),
    });
    const results = Array.from({ length: n }, (_, i) => app.sendTask("fixture.add", [i, 1], undefined, { queue: own }));
    await Promise.all(results.map((r) => r.sent));
    await w.waitFor(/fixture\.add\[[^\]]+\] succeeded/, 10_000);
    assert.equal(await w.stop(), 0);
    const redis = rawClient(DB);
    try {
      const leased = (await redis.hvals("unacked")).filter((entry) => entry.endsWith(`"${own}"]`)).length;
      assert.equal(leased, 0, "no message of the stopped worker left in unacked");
      const stored = await redis.mget(...results.map((r) => `celery-task-meta-${r.id}`));
      const done = stored.filter(Boolean).length;
      const waiting = await redis.llen(own);
      assert.ok(done > 0 && done < n, `some ran (${done}), the rest waits`);
      assert.equal(done + waiting, n, `${done} done + ${waiting} back in the queue`);
      await redis.del(own);
    } finally {
      redis.disconnect();
    }
  });

  it("scheduled tasks wait in Redis, not in the worker: RSS stays flat with 50,000 of them", async () => {
    const rss = async (pid: number) => {
      const { readFileSync } = await import("node:fs");
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
    };
    const before = await rss(workers[0]!.pid);
    const sent: Promise<void>[] = [];
    for (let i = 0; i < 50_000; i++) sent.push(app.sendTask("fixture.add", [i, 1], undefined, { queue, countdown: 3600 }).sent);
    await Promise.all(sent);
    await sleep(3_000); // several fetch rounds over the full schedule
    const grown = (await rss(workers[0]!.pid)) - before;
    assert.ok(grown < 30, `worker RSS grew by ${grown.toFixed(1)} MB`);
    const redis = rawClient(DB);
    try {
      assert.equal(await redis.zcard(`_celeriac.schedule.${queue}`), 50_000);
      await (await app.broker()).purge(queue);
    } finally {
      redis.disconnect();
    }
  });
});
