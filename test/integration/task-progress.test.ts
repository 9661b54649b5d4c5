// Task progress (this.progress / this.updateState, Celery's update_state)
// through real workers: stored in Celery's format on every backend, read back
// through AsyncResult.updates() (pub/sub on Redis, polling elsewhere), from the
// async pool in this process and from process and thread pool children.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac, TimeoutError, Worker, type ResultMeta } from "../../src/index.js";
import { resultMeta } from "../../src/backends/result-meta.js";
import { defineProgressTasks } from "../fixtures/progress-app.js";
import { followGated } from "../support/progress.js";
import { AMQP_URL, requireRabbit } from "../support/amqp.js";
import { startWorker } from "../support/processes.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-progress-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const REDIS = redisUrl(9);
const haveRedis = await redisAvailable();
const noRabbit = await requireRabbit();

const EXPECTED = [
  { status: "PROGRESS", result: { step: "step 1", current: 1, total: 2 } },
  { status: "PROGRESS", result: { step: "step 2", current: 2, total: 2 } },
  { status: "SUCCESS", result: "done 2" },
];

const inProcess = [
  { name: "memory", url: () => ({ broker: `memory://p-${randomUUID()}`, backend: `memory://p-${randomUUID()}` }), skip: false as string | boolean },
  { name: "sqlite", url: () => ({ broker: `sqlite://${join(dir, "inproc.db")}`, backend: `sqlite://${join(dir, "inproc.db")}` }), skip: false },
  { name: "redis", url: () => ({ broker: REDIS, backend: REDIS }), skip: !haveRedis },
  { name: "rpc (RabbitMQ)", url: () => ({ broker: AMQP_URL, backend: "rpc://" }), skip: noRabbit ?? false },
];

for (const c of inProcess) {
  describe(`task progress on ${c.name}, async pool`, { skip: c.skip }, () => {
    const queue = `progress-${randomUUID().slice(0, 8)}`;
    const app = new Celeriac({ name: "progress", ...c.url(), taskDefaultQueue: queue });
    const tasks = defineProgressTasks(app);
    const worker = new Worker(app, { pool: "async", concurrency: 4, queues: [queue], heartbeat: false });
    after(async () => {
      await worker.stop();
      await app.close();
    });

    it("each PROGRESS (Celery's format: the meta as result, no date_done) is seen by updates(), then SUCCESS ends them", async () => {
      await worker.start();
      const r = tasks.gated.delay(2);
      assert.deepEqual(await followGated(app, r), EXPECTED);
      assert.equal(r.state, "SUCCESS");
      assert.equal(await r.get({ timeout: 5000 }), "done 2");
      assert.equal(r.progress, null, "no progress once it succeeded");
    });

    it("a stored PROGRESS is Celery's meta: status, the meta as result, no traceback, no date_done", async () => {
      const r = tasks.gated.delay(1);
      let stored: ResultMeta | null = null;
      for await (const meta of r.updates({ timeout: 30_000 })) {
        if (meta.status !== "PROGRESS") continue;
        stored = await (await app.backend()).get(r.id);
        await (await app.backend()).store(resultMeta({ taskId: r.id, status: "GO1", result: null }), { replyTo: app.oid, correlationId: r.id });
      }
      assert.ok(stored);
      assert.equal(stored.status, "PROGRESS");
      assert.deepEqual(stored.result, { step: "step 1", current: 1, total: 1 });
      assert.equal(stored.traceback, null);
      assert.equal(stored.date_done, null);
      assert.equal(stored.task_id, r.id);
    });

    it("updates the task did not await are stored before its SUCCESS, never after it", async () => {
      const r = tasks.unawaited.delay();
      assert.equal(await r.get({ timeout: 10_000 }), "finished");
      const meta = await r.refresh();
      assert.equal(meta?.status, "SUCCESS");
    });

    it("bad updates reject with typed errors, store nothing, and the task and worker go on", async () => {
      const r = tasks.bad.delay();
      assert.deepEqual(await r.get({ timeout: 10_000 }), ["InvalidStateUpdate", "InvalidStateUpdate", "EncodeError", "none"]);
      assert.equal(await tasks.unawaited.delay().get({ timeout: 10_000 }), "finished", "the worker still runs tasks");
    });

    it("this.log lines are kept with the task, across its retries, cut to their caps (none on rpc://)", async () => {
      const r = tasks.logging.delay(3);
      assert.equal(await r.get({ timeout: 10_000 }), "logged");
      const lines = await r.logs();
      if (c.name.startsWith("rpc")) {
        assert.deepEqual(lines, [], "rpc:// keeps no logs");
        return;
      }
      assert.deepEqual(
        lines.map((l) => [l.level, l.retries, l.message.slice(0, 40)]),
        [
          ["info", 0, "attempt 1 of two"],
          ["warning", 0, "first attempt fails"],
          ["info", 1, "attempt 2 of two"],
          ["error", 1, "an error line\nwith a second line"],
          ["info", 1, "x".repeat(40)],
          ["info", 1, "line 0"],
          ["info", 1, "line 1"],
          ["info", 1, "line 2"],
        ],
      );
      assert.equal(lines[4]!.message.length, 2001, "a long line is cut to 2,000 characters and an ellipsis");
      assert.ok(lines.every((l) => !Number.isNaN(Date.parse(l.time))));
      const many = tasks.logging.delay(1100);
      await many.get({ timeout: 20_000 });
      const kept = await many.logs();
      assert.equal(kept.length, 1000, "the newest 1,000 lines are kept");
      assert.equal(kept.at(-1)!.message, "line 1099");
      assert.equal(kept[0]!.message, "line 100");
      await many.forget();
      assert.deepEqual(await many.logs(), [], "forget() removes the logs too");
    });

    it("updates() of a task that never runs ends with TimeoutError", async () => {
      const r = app.AsyncResult(randomUUID());
      await assert.rejects(async () => {
        for await (const _ of r.updates({ timeout: 300 })) assert.fail("nothing is stored for it");
      }, TimeoutError);
    });
  });
}

const pooled = [
  { backend: "sqlite", pool: "process" },
  { backend: "sqlite", pool: "thread" },
  { backend: "redis", pool: "process" },
] as const;

for (const c of pooled) {
  describe(`task progress from ${c.pool} pool children, ${c.backend}`, { skip: c.backend === "redis" && !haveRedis }, () => {
    const queue = `progress-${randomUUID().slice(0, 8)}`;
    const url = c.backend === "redis" ? REDIS : `sqlite://${join(dir, `${c.pool}.db`)}`;
    const app = new Celeriac({ name: "client", broker: url, backend: url, taskDefaultQueue: queue });
    defineProgressTasks(app);
    after(() => app.close());

    it("the child's updates reach the backend through its worker, in order, before the outcome", async () => {
      const worker = await startWorker("test/fixtures/progress-worker-app.ts", ["-P", c.pool, "-c", "2", "-Q", queue, "-l", "warning"], {
        CELERIAC_BROKER_URL: url,
        CELERIAC_RESULT_BACKEND: url,
      });
      try {
        assert.deepEqual(await followGated(app, app.sendTask<string>("progress.gated", [2])), EXPECTED);
        assert.equal(await app.sendTask("progress.unawaited").get({ timeout: 10_000 }), "finished");
        const unawaited = app.sendTask("progress.unawaited");
        await unawaited.get({ timeout: 10_000 });
        assert.equal((await unawaited.refresh())?.status, "SUCCESS");
        assert.deepEqual(await app.sendTask("progress.bad").get({ timeout: 10_000 }), ["InvalidStateUpdate", "InvalidStateUpdate", "EncodeError", "none"]);
        const logged = app.sendTask("progress.logging", [2]);
        await logged.get({ timeout: 10_000 });
        assert.deepEqual(
          (await logged.logs()).map((l) => l.message.slice(0, 20)),
          ["attempt 1 of two", "first attempt fails", "attempt 2 of two", "an error line\nwith a", "x".repeat(20), "line 0", "line 1"],
          "the child's log lines reach the backend through its worker",
        );
      } finally {
        assert.equal(await worker.stop(), 0);
      }
    });
  });
}
