// Failures on Redis: a killed worker, a restarted Redis, a password in the URL.
// Each test runs its own redis-server (never the shared one on 6379).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { Celeriac, chord, type GroupResult } from "../../src/index.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { startWorker } from "../support/processes.js";
import { redisAvailable, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";
import { waitUntil } from "../support/wait.js";

const available = await redisAvailable();
const dir = mkdtempSync(join(tmpdir(), "celeriac-redis-faults-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("redis faults", { skip: !available }, () => {
  it("kill -9 of a worker holding acksLate tasks: they come back after the visibility timeout and complete", async () => {
    const redis = await startOwnRedis(await freePort());
    const url = redis.url(0);
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout":2}' };
    const app = new Celeriac({ name: "producer", broker: url, backend: url });
    const raw = new Redis(redis.port);
    try {
      const first = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "4", "-n", "first@%h"], env);
      const results = Array.from({ length: 4 }, (_, i) => app.sendTask<string>("fixture.sleep", [1500, `t${i}`]));
      await Promise.all(results.map((r) => r.sent));
      for (const r of results) await first.waitFor(new RegExp(`fixture\\.sleep\\[${r.id}\\] received`), 10_000);
      // Leases are written as the tasks start, just after "received": kill once they are all in.
      await waitUntil("4 leases in the unacked hash", async () => (await raw.hlen("unacked")) >= 4, 10_000, 10);
      first.proc.kill("SIGKILL");
      await first.exited;
      assert.equal(await raw.hlen("unacked"), 4, "the dead worker's messages wait in the unacked hash");
      const second = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "4", "-n", "second@%h"], env);
      const values = await Promise.all(results.map((r) => r.get({ timeout: 20_000 })));
      assert.deepEqual(values, ["t0", "t1", "t2", "t3"]);
      assert.match(second.output(), /restored 4 unacked message/);
      await waitUntil("the unacked hash to empty: acked after completion", async () => (await raw.hlen("unacked")) === 0, 10_000);
      await second.stop();
    } finally {
      raw.disconnect();
      await app.close();
      await redis.stop();
    }
  });

  it("Redis restarted during a run: the worker reconnects and no task is lost (appendonly)", async () => {
    const data = join(dir, "aof");
    mkdirSync(data, { recursive: true });
    const redis = await startOwnRedis(await freePort(), ["--appendonly", "yes", "--appendfsync", "always", "--dir", data]);
    const url = redis.url(0);
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout":3}' };
    const app = new Celeriac({ name: "producer", broker: url, backend: url });
    try {
      const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "4", "--prefetch-multiplier", "1"], env);
      const results = Array.from({ length: 200 }, (_, i) => app.sendTask<string>("fixture.sleep", [20, `r${i}`]));
      await Promise.all(results.map((r) => r.sent));
      await worker.waitFor(/fixture\.sleep\[[^\]]+\] succeeded/, 10_000);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 700)); // the outage itself: how long Redis stays down is the subject
      await redis.start();
      const values = await Promise.all(results.map((r) => r.get({ timeout: 60_000 })));
      assert.deepEqual(
        values,
        results.map((_, i) => `r${i}`),
      );
      assert.match(worker.output(), /reconnecting|cannot fetch/);
      await worker.stop();
    } finally {
      await app.close();
      await redis.stop();
    }
  });

  it("kill -9 of the worker that completed a chord before it sent the callback: the redelivered last part sends it", { timeout: 60_000 }, async () => {
    // The broker on its own Redis (appendonly), so it can be down while the
    // results' Redis is up: the last part is recorded, its callback cannot be sent.
    const data = join(dir, "aof-chord");
    mkdirSync(data, { recursive: true });
    const brokerRedis = await startOwnRedis(await freePort(), ["--appendonly", "yes", "--appendfsync", "always", "--dir", data]);
    const backendRedis = await startOwnRedis(await freePort());
    const env = {
      CELERIAC_BROKER_URL: brokerRedis.url(0),
      CELERIAC_RESULT_BACKEND: backendRedis.url(0),
      CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout":2}',
    };
    const app = new Celeriac({ name: "producer", broker: env.CELERIAC_BROKER_URL, backend: env.CELERIAC_RESULT_BACKEND });
    const t = defineCanvasTasks(app);
    const marker = join(dir, "chord-callback-calls.txt");
    const brokerRaw = new Redis(brokerRedis.port);
    brokerRaw.on("error", () => {}); // it is down for a while, on purpose
    const backendRaw = new Redis(backendRedis.port);
    const workerApp = "test/fixtures/canvas-app.ts";
    try {
      const first = await startWorker(workerApp, ["-P", "async", "-c", "4", "-n", "first@%h"], env);
      // Part 0 is quick and acked; part 1 (acksLate) is still running when the broker goes away.
      const res = chord([t.slowAdd.s(1, 1, 10), t.slowAdd.s(2, 2, 1500)], t.countedSum.s(marker)).applyAsync();
      const header = res.parent as GroupResult<number>;
      const [quick, slow] = header.results;
      assert.equal(await quick!.get({ timeout: 10_000 }), 2);
      await waitUntil("the quick part acked, the slow one leased", async () => (await brokerRaw.hlen("unacked")) === 1, 10_000, 10);
      assert.equal(await brokerRaw.hlen("unacked"), 1, "only the slow part is unacked");
      await brokerRedis.stop();
      // The slow part finishes, completes the chord in the results' Redis, and its callback waits for the broker.
      assert.equal(await slow!.get({ timeout: 10_000 }), 4);
      const claim = `celery-taskset-meta-${header.id}.c`;
      await waitUntil(`the chord claim ${claim}`, async () => (await backendRaw.exists(claim)) === 1, 10_000, 10);
      assert.equal(await backendRaw.get(claim), slow!.id, "the last part holds the completed chord");
      first.proc.kill("SIGKILL");
      await first.exited;
      assert.ok(!existsSync(marker), "the callback has not run");

      await brokerRedis.start();
      const second = await startWorker(workerApp, ["-P", "async", "-c", "4", "-n", "second@%h"], env);
      assert.equal(await res.get({ timeout: 20_000 }), 6, "the callback ran with both results");
      await new Promise((r) => setTimeout(r, 500)); // room for a duplicate callback, which has no event to wait for
      assert.deepEqual(readFileSync(marker, "utf8").trim().split("\n"), ["2"], "once, with both parts");
      assert.match(second.output(), /restored 1 unacked message/);
      assert.equal(await backendRaw.exists(claim, `celery-taskset-meta-${header.id}.j`), 0, "the chord's keys are gone once the callback is sent");
      await second.stop();
    } finally {
      brokerRaw.disconnect();
      backendRaw.disconnect();
      await app.close();
      await brokerRedis.stop();
      await backendRedis.stop();
    }
  });

  it("a password-protected Redis URL never shows the password in logs", async () => {
    const password = `pw-${randomUUID().slice(0, 8)}`;
    const redis = await startOwnRedis(await freePort(), ["--requirepass", password], password);
    const url = redis.url(0);
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const app = new Celeriac({ name: "producer", broker: url, backend: url });
    try {
      const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "2"], env);
      assert.equal(await app.sendTask<number>("fixture.add", [1, 1]).get({ timeout: 10_000 }), 2);
      // Make it log connection errors too.
      await redis.stop();
      await new Promise((r) => setTimeout(r, 1500));
      await redis.start();
      assert.equal(await app.sendTask<number>("fixture.add", [2, 2]).get({ timeout: 20_000 }), 4);
      await worker.stop();
      const out = worker.output();
      assert.match(out, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}`), "the URL is shown masked");
      assert.ok(!out.includes(password), "the password is not in the output");
    } finally {
      await app.close();
      await redis.stop();
    }
  });
});
