// Task options as Celery documents them, through a real worker (async pool)
// on memory and sqlite: backoff, hooks and base, trackStarted, resultExtended,
// storeErrorsEvenIfIgnored, routing with worker queues, priorities, per-call limits.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac, States, Worker, type TaskContext, type TaskOptions } from "../../src/index.js";
import { waitUntil } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-opts-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of ["memory", "sqlite"] as const) {
  describe(`task options on ${kind}`, () => {
    const mk = () => {
      const url = kind === "memory" ? `memory://opts-${randomUUID()}` : `sqlite://${join(dir, `${randomUUID()}.db`)}`;
      return new Celeriac({ name: "opts", broker: url, backend: url });
    };
    const running: { w: Worker; app: Celeriac }[] = [];
    const start = async (app: Celeriac, opts: ConstructorParameters<typeof Worker>[1] = {}) => {
      const w = new Worker(app, { pool: "async", concurrency: 2, ...opts });
      await w.start();
      running.push({ w, app });
      return w;
    };
    after(async () => {
      for (const { w, app } of running) {
        await w.stop();
        await app.close();
      }
    });

    it("retryBackoff waits factor * 2^retries between attempts (no jitter), then fails with the error", async () => {
      const app = mk();
      const times: number[] = [];
      const t = app.task({ name: "o.backoff", autoretryFor: [TypeError], retryBackoff: 0.2, retryJitter: false, maxRetries: 2 }, () => {
        times.push(Date.now());
        throw new TypeError("still broken");
      });
      await start(app);
      const r = t.delay();
      await assert.rejects(r.get({ timeout: 10_000 }), (e: Error) => e.name === "TypeError" && e.message === "still broken");
      assert.equal(times.length, 3);
      assert.ok(times[1]! - times[0]! >= 180, `first delay ${times[1]! - times[0]!}`);
      assert.ok(times[2]! - times[1]! >= 380, `second delay ${times[2]! - times[1]!}`);
    });

    it("state is RETRY between attempts, with request.retries counting", async () => {
      const app = mk();
      const t = app.task({ name: "o.retrystate", bind: true, maxRetries: 1 }, function (this: TaskContext) {
        if (this.request.retries === 0) this.retry({ countdown: 1, exc: new Error("later") });
        return this.request.retries;
      });
      await start(app);
      const r = t.delay();
      await waitUntil("the RETRY state between the attempts", async () => (await r.refresh())?.status === States.RETRY, 5000);
      assert.equal(await r.get({ timeout: 10_000 }), 1);
    });

    it("runs hooks, including those of a shared base", async () => {
      const app = mk();
      const calls: string[] = [];
      const base: TaskOptions = {
        onFailure(exc) {
          calls.push(`base.onFailure:${exc.message}`);
        },
        afterReturn(status) {
          calls.push(`base.afterReturn:${status}`);
        },
      };
      const good = app.task({ name: "o.good", base, onSuccess: (v) => void calls.push(`onSuccess:${String(v)}`) }, () => 7);
      const bad = app.task({ name: "o.bad", base }, () => {
        throw new Error("nope");
      });
      await start(app);
      await good.delay().get({ timeout: 5000 });
      await bad.delay().get({ timeout: 5000, propagate: false });
      assert.deepEqual(calls, ["onSuccess:7", "base.afterReturn:SUCCESS", "base.onFailure:nope", "base.afterReturn:FAILURE"]);
    });

    it("trackStarted stores STARTED while the task runs", async () => {
      const app = mk();
      const t = app.task({ name: "o.tracked", trackStarted: true }, async () => {
        await sleep(600);
        return 1;
      });
      await start(app);
      const r = t.delay();
      await waitUntil("the STARTED state while the task runs", async () => (await r.refresh())?.status === States.STARTED, 5000);
      assert.equal(await r.get({ timeout: 5000 }), 1);
    });

    it("resultExtended stores name, args, kwargs and worker with the result", async () => {
      const app = mk();
      app.settings.resultExtended = true;
      const t = app.task({ name: "o.ext", kwargsAsObject: true }, (a: number) => a);
      await start(app, { hostname: "ext@test" });
      const r = t.applyAsync([5], { kwargs: { k: 1 } });
      await r.get({ timeout: 5000 });
      const m = r.info!;
      assert.equal(m.name, "o.ext");
      assert.deepEqual(m.args, [5]);
      assert.deepEqual(m.kwargs, { k: 1 });
      assert.equal(m.worker, "ext@test");
    });

    it("ignoreResult keeps nothing, storeErrorsEvenIfIgnored keeps failures", async () => {
      const app = mk();
      const quiet = app.task({ name: "o.quiet", ignoreResult: true }, () => {
        throw new Error("lost");
      });
      const loud = app.task({ name: "o.loud", ignoreResult: true, storeErrorsEvenIfIgnored: true }, () => {
        throw new Error("kept");
      });
      await start(app);
      const q = quiet.delay();
      await assert.rejects(loud.delay().get({ timeout: 5000 }), /kept/);
      await sleep(200); // no event says a result will never be stored: give a wrong one time to show
      assert.equal(await q.refresh(), null);
    });

    it("routes by taskRoutes to queues that only a worker with -Q consumes", async () => {
      const app = mk();
      app.settings.taskRoutes = { "o.route.*": { queue: "special" } };
      const t = app.task("o.route.x", () => "routed");
      const plain = app.task("o.plain", () => "plain");
      const r = t.delay();
      await start(app, { queues: ["celery"] });
      assert.equal(await plain.delay().get({ timeout: 5000 }), "plain");
      await sleep(300); // time for a wrong consumer to take it: that none does is the assertion
      assert.equal(await (await app.broker()).size("special"), 1, "waits in its queue");
      await start(app, { queues: ["special"] });
      assert.equal(await r.get({ timeout: 5000 }), "routed");
    });

    it("serves higher priorities first on the embedded brokers", async () => {
      const app = mk();
      const order: number[] = [];
      const t = app.task("o.prio", (p: number) => void order.push(p));
      const sends = [1, 9, 5, 0, 7].map((p) => t.applyAsync([p], { priority: p }));
      await Promise.all(sends.map((s) => s.sent));
      await start(app, { concurrency: 1, prefetchMultiplier: 1 });
      await Promise.all(sends.map((s) => s.get({ timeout: 5000 })));
      assert.deepEqual(order, [9, 7, 5, 1, 0]);
    });

    it("a per-call softTimeLimit overrides the task's", async () => {
      const app = mk();
      const t = app.task({ name: "o.soft", bind: true }, async function (this: TaskContext) {
        await new Promise((res, rej) => {
          const timer = setTimeout(res, 3000);
          this.signal.addEventListener("abort", () => (clearTimeout(timer), rej(this.signal.reason)));
        });
        return "finished";
      });
      await start(app);
      await assert.rejects(t.applyAsync([], { softTimeLimit: 0.2 }).get({ timeout: 5000 }), (e: Error) => e.name === "SoftTimeLimitExceeded");
    });

    it("a global rate limit is shared by two workers", async () => {
      const app = mk();
      const stamps: number[] = [];
      const t = app.task({ name: "o.global", globalRateLimit: "5/s" }, () => void stamps.push(Date.now()));
      await start(app, { concurrency: 2 });
      await start(app, { concurrency: 2 });
      const t0 = Date.now();
      await Promise.all(Array.from({ length: 6 }, () => t.delay().get({ timeout: 10_000 })));
      assert.ok(Date.now() - t0 >= 900, `6 tasks at 5/s across two workers took ${Date.now() - t0} ms`);
    });
  });
}
