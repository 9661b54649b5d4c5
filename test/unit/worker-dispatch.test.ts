// The worker's dispatcher (src/worker/dispatcher.ts: reserved jobs, pool
// slots, rate limits) with the real async pool, and its lease keeper
// (src/worker/leases.ts) under mock timers.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it, mock } from "node:test";
import { Celeriac } from "../../src/index.js";
import { encodeTask, type TaskCall } from "../../src/protocol/message.js";
import { Acker } from "../../src/worker/acker.js";
import { Dispatcher } from "../../src/worker/dispatcher.js";
import type { Job, TaskCounts } from "../../src/worker/job.js";
import { LeaseKeeper } from "../../src/worker/leases.js";
import { AsyncPool } from "../../src/worker/pools/async.js";
import { Receipt } from "../../src/worker/receipt.js";
import { ResultWriter } from "../../src/worker/results.js";
import { RevokedSet } from "../../src/worker/revoked.js";
import { captureLog } from "../support/log-capture.js";
import { WatchedBroker } from "../support/watched-broker.js";
import { waitUntil } from "../support/wait.js";

async function setup(slots: number) {
  const url = `memory://${randomUUID()}`;
  const app = new Celeriac({ name: "dispatch", broker: url, backend: url });
  /** Tasks of "dispatch.held" run until the test lets them finish. */
  const gates: (() => void)[] = [];
  const ran: string[] = [];
  app.task({ name: "dispatch.held", bind: true }, function (this: { request: { id: string } }) {
    ran.push(this.request.id);
    return new Promise<void>((resolve) => gates.push(resolve));
  });
  app.task({ name: "dispatch.slow", rateLimit: "1/m" }, () => 1);
  app.task("dispatch.fast", () => 1);
  const broker = new WatchedBroker(url);
  const backend = await app.backend();
  const captured = captureLog();
  const counts: TaskCounts = { processed: 0, succeeded: 0, failed: 0, retried: 0 };
  const results = new ResultWriter(app, () => backend, "w@test");
  const revoked = new RevokedSet();
  let roomFreed = 0;
  const common = { app, results, counts, revoked, log: captured.log, hostname: "w@test", broker: () => broker, events: () => null };
  const acker = new Acker(common);
  const receipt = new Receipt({ ...common, acker, softTimeLimit: null });
  const dispatcher = new Dispatcher({ ...common, acker, timeLimit: null, disableRateLimits: false, roomFreed: () => roomFreed++ });
  const pool = new AsyncPool(app, slots);
  await pool.start();
  dispatcher.usePool(pool);
  const reserve = async (call: TaskCall): Promise<Job> => {
    await broker.publish({ queue: "celery" }, encodeTask(call));
    const [delivery] = await broker.fetch(["celery"], { max: 1, waitMs: 0, lease: true });
    const job = receipt.check(delivery!) as Job;
    dispatcher.reserve(job);
    return job;
  };
  return { app, backend, broker, counts, revoked, dispatcher, reserve, gates, ran, roomFreed: () => roomFreed };
}

describe("worker dispatcher", () => {
  it("runs no more jobs than the pool has slots, and starts the next as one finishes", async () => {
    const t = await setup(2);
    for (let i = 0; i < 5; i++) await t.reserve({ task: "dispatch.held" });
    t.dispatcher.dispatch();
    await waitUntil("two jobs to run", () => t.ran.length === 2);
    assert.equal(t.dispatcher.active.size, 2);
    assert.equal(t.dispatcher.reserved.length, 3);
    t.gates.shift()!();
    await waitUntil("the third job to start", () => t.ran.length === 3);
    assert.equal(t.dispatcher.active.size, 2);
    while (t.ran.length < 5 || t.gates.length) {
      t.gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await t.dispatcher.drained();
    assert.equal(t.counts.processed, 5);
    assert.equal(t.dispatcher.held, 0);
  });

  it("settles a job revoked while it waited, without running it", async () => {
    const t = await setup(1);
    const running = await t.reserve({ task: "dispatch.held" });
    const waiting = await t.reserve({ task: "dispatch.held" });
    t.dispatcher.dispatch();
    await waitUntil("the first job to run", () => t.ran.length === 1);
    t.revoked.add([waiting.request.id]);
    t.gates.shift()!();
    await waitUntil("the revoked job's REVOKED state", async () => (await t.backend.get(waiting.request.id))?.status === "REVOKED");
    assert.deepEqual(t.ran, [running.request.id]);
    assert.ok(t.roomFreed() >= 2, "the consumer was told of both free places");
  });

  it("a job waiting for its rate limit does not hold back the jobs behind it", async () => {
    const t = await setup(4);
    await t.reserve({ task: "dispatch.slow" });
    const second = await t.reserve({ task: "dispatch.slow" });
    const fast = await t.reserve({ task: "dispatch.fast" });
    t.dispatcher.dispatch();
    await waitUntil("the unlimited job behind to finish", async () => (await t.backend.get(fast.request.id))?.status === "SUCCESS");
    assert.deepEqual(
      t.dispatcher.reserved.map((j) => j.request.id),
      [second.request.id],
      "the second rate-limited job waits for its token",
    );
    t.dispatcher.stop();
  });

  it("once stopped, starts nothing and hands back what is reserved", async () => {
    const t = await setup(1);
    await t.reserve({ task: "dispatch.held" });
    const waiting = await t.reserve({ task: "dispatch.held" });
    t.dispatcher.dispatch();
    await waitUntil("the first job to run", () => t.ran.length === 1);
    const given = t.dispatcher.stop();
    assert.deepEqual(
      given.map((j) => j.request.id),
      [waiting.request.id],
    );
    t.gates.shift()!();
    await t.dispatcher.drained();
    assert.equal(t.ran.length, 1, "nothing started after stop");
  });
});

describe("worker lease keeper", () => {
  it("renews the leases of unacked deliveries every third of the visibility timeout", async () => {
    const broker = new WatchedBroker(`memory://${randomUUID()}`, { visibilityTimeout: 30 });
    await broker.publish({ queue: "q" }, encodeTask({ task: "t" }));
    const held = await broker.fetch(["q"], { max: 1, waitMs: 0, lease: true });
    const keeper = new LeaseKeeper(broker, () => held, captureLog().log);
    assert.equal(keeper.everyMs, 10_000);
    mock.timers.enable({ apis: ["setInterval"] });
    try {
      keeper.start();
      mock.timers.tick(9_999);
      assert.equal(broker.extended.length, 0);
      mock.timers.tick(1);
      assert.deepEqual(broker.extended, [[held[0]!.tag]]);
      held.length = 0;
      mock.timers.tick(10_000);
      assert.equal(broker.extended.length, 1, "nothing to renew: no call");
      keeper.stop();
    } finally {
      mock.timers.reset();
    }
  });
});
