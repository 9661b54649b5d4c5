// The worker's checks on arrival (src/worker/receipt.ts) and its one path per
// outcome (src/worker/acker.ts), against the real memory broker and backend:
// what is stored, logged and how the message is settled for each outcome,
// and that a broker or backend failing under an outcome loses nothing.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import type { ResultBackend } from "../../src/backends/backend.js";
import { encodeTask, type TaskCall } from "../../src/protocol/message.js";
import { Acker } from "../../src/worker/acker.js";
import type { Job, TaskCounts } from "../../src/worker/job.js";
import { Receipt } from "../../src/worker/receipt.js";
import { ResultWriter } from "../../src/worker/results.js";
import { RevokedSet } from "../../src/worker/revoked.js";
import { captureLog } from "../support/log-capture.js";
import { WatchedBroker } from "../support/watched-broker.js";

const QUEUE = "celery";

async function setup() {
  const url = `memory://${randomUUID()}`;
  const app = new Celeriac({ name: "parts", broker: url, backend: url });
  app.task("parts.add", (x: number, y: number) => x + y);
  app.task({ name: "parts.late", acksLate: true }, () => 1);
  app.task({ name: "parts.quiet", ignoreResult: true }, () => 1);
  const broker = new WatchedBroker(url);
  const backend = await app.backend();
  const captured = captureLog();
  const counts: TaskCounts = { processed: 0, succeeded: 0, failed: 0, retried: 0 };
  const results = new ResultWriter(app, () => backend, "w@test");
  const host = { app, results, counts, log: captured.log, broker: () => broker, events: () => null, hostname: "w@test" };
  const acker = new Acker(host);
  const revoked = new RevokedSet();
  const receipt = new Receipt({ ...host, acker, hostname: "w@test", softTimeLimit: null, revoked });
  /** Publishes a task message, takes it leased, and checks it as the worker does. */
  const arrive = async (call: TaskCall | Record<string, unknown>, raw = false) => {
    const message = raw ? (call as never) : encodeTask(call as TaskCall);
    await broker.publish({ queue: QUEUE }, message);
    const [delivery] = await broker.fetch([QUEUE], { max: 1, waitMs: 0, lease: true });
    return receipt.check(delivery!);
  };
  const job = async (call: TaskCall): Promise<Job> => {
    const checked = await arrive(call);
    assert.ok(!(checked instanceof Promise) && checked, "the message passed its checks");
    return checked as Job;
  };
  return { app, broker, backend: backend as ResultBackend, captured, counts, acker, revoked, arrive, job };
}

/** Celery's date_done: a naive UTC isoformat with six fraction digits. */
const CELERY_DATE_DONE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;

describe("worker receipt: the checks on arrival", () => {
  it("a message that passes becomes a job at once, not a promise", async () => {
    const t = await setup();
    const checked = await t.arrive({ task: "parts.add", args: [1, 2] });
    assert.ok(!(checked instanceof Promise));
    assert.deepEqual((checked as Job).request.args, [1, 2]);
    assert.equal((checked as Job).acksLate, false);
  });

  it("an unregistered task: FAILURE stored, message dropped", async () => {
    const t = await setup();
    const id = randomUUID();
    await t.arrive({ task: "parts.nope", id });
    const meta = await t.backend.get(id);
    assert.equal(meta?.status, "FAILURE");
    assert.match((meta?.result as { exc_type: string }).exc_type, /NotRegistered$/);
    assert.deepEqual(
      t.broker.rejected.map((r) => r.requeue),
      [false],
    );
  });

  it("an unreadable message with an id: FAILURE stored under it, dropped, logged with the reason", async () => {
    const t = await setup();
    const id = randomUUID();
    const good = encodeTask({ task: "parts.add", id, args: [1, 2] });
    await t.arrive({ ...good, body: "not base64 json {", properties: { ...good.properties } }, true);
    assert.equal((await t.backend.get(id))?.status, "FAILURE");
    assert.deepEqual(
      t.broker.rejected.map((r) => r.requeue),
      [false],
    );
    assert.match(t.captured.at("error")[0] ?? "", /cannot read message parts\.add\[/);
  });

  it("a revoked task: REVOKED stored, acked, not run", async () => {
    const t = await setup();
    const id = randomUUID();
    t.revoked.add([id]);
    await t.arrive({ task: "parts.add", id, args: [1, 2] });
    const meta = await t.backend.get(id);
    assert.equal(meta?.status, "REVOKED");
    assert.match(meta?.date_done ?? "", CELERY_DATE_DONE);
    await t.acker.flush();
    assert.equal(t.broker.acked.length, 1);
  });

  it("an expired task: REVOKED (expired) stored and acked", async () => {
    const t = await setup();
    const id = randomUUID();
    await t.arrive({ task: "parts.add", id, args: [1, 2], expires: new Date(Date.now() - 1000) });
    assert.equal((await t.backend.get(id))?.status, "REVOKED");
    assert.ok(t.captured.at("info").some((m) => m.includes("expired at")));
  });

  it("a task not due yet goes back to the broker's schedule with its ETA", async () => {
    const t = await setup();
    const eta = new Date(Date.now() + 60_000);
    await t.arrive({ task: "parts.add", args: [1, 2], eta });
    const republished = t.broker.published.at(-1);
    assert.equal(republished?.opts?.eta, eta.getTime());
    assert.equal(t.broker.acked.length, 1);
    assert.equal(await t.broker.size(QUEUE), 0, "not ready before its ETA");
  });
});

describe("worker acker: one path per outcome", () => {
  it("a success with nothing to store is settled in the same turn", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.quiet" });
    // The ack itself is batched (a promise of the batch); nothing else was awaited before it.
    void t.acker.record(job, { kind: "success", value: 1, runtime: 0.001 });
    assert.ok(job.acked, "acked in the same turn");
    assert.equal(await t.backend.get(job.request.id), null, "nothing stored");
    assert.equal(t.counts.succeeded, 1);
  });

  it("a success: SUCCESS stored with Celery's date_done, then acked", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.add", args: [2, 3] });
    await t.acker.record(job, { kind: "success", value: 5, runtime: 0.001 });
    const meta = await t.backend.get(job.request.id);
    assert.equal(meta?.status, "SUCCESS");
    assert.equal(meta?.result, 5);
    assert.match(meta?.date_done ?? "", CELERY_DATE_DONE);
    await t.acker.flush();
    assert.deepEqual(t.broker.acked, [job.delivery.tag]);
  });

  it("a result that cannot be stored fails the task (as Celery's trace does)", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.add" });
    await t.acker.record(job, { kind: "success", value: 10n, runtime: 0.001 });
    const meta = await t.backend.get(job.request.id);
    assert.equal(meta?.status, "FAILURE");
    assert.equal((meta?.result as { exc_type: string }).exc_type, "EncodeError");
    assert.equal(t.counts.failed, 1);
    assert.equal(t.counts.succeeded, 0);
  });

  it("a failure: FAILURE stored, its stack logged once, acked", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.add" });
    const exc = { exc_type: "ValueError", exc_message: ["nope"], exc_module: "builtins" };
    await t.acker.record(job, { kind: "failure", exc, traceback: "ValueError: nope\n    at f (x.ts:1:1)", runtime: 0.001 });
    assert.equal((await t.backend.get(job.request.id))?.status, "FAILURE");
    assert.deepEqual(t.captured.at("error"), [`task parts.add[${job.request.id}] raised ValueError: nope`]);
    assert.ok(job.acked);
  });

  it("a retry: RETRY stored, the message sent again with retries + 1 and an ETA, the old one acked", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.add" });
    await t.acker.record(job, { kind: "retry", countdown: 30, exc: null, traceback: null, runtime: 0.001 });
    assert.equal((await t.backend.get(job.request.id))?.status, "RETRY");
    const again = t.broker.published.at(-1)!;
    assert.equal(again.message.headers.retries, 1);
    assert.ok((again.opts?.eta ?? 0) > Date.now() + 25_000);
    assert.ok(job.acked);
  });

  it("a late-ack retry that cannot be sent goes back to the queue; nothing is lost", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.late" });
    t.broker.failPublish = new Error("connection lost");
    await t.acker.record(job, { kind: "retry", countdown: 1, exc: null, traceback: null, runtime: 0.001 });
    assert.deepEqual(t.broker.rejected, [{ tag: job.delivery.tag, requeue: true }]);
    assert.equal(job.acked, false);
    assert.equal(await t.broker.size(QUEUE), 1);
  });

  it("a late-ack task whose process died is requeued; an early-acked one fails with WorkerLostError", async () => {
    const t = await setup();
    const late = await t.job({ task: "parts.late" });
    await t.acker.record(late, { kind: "lost", reason: "child exited", runtime: 0 });
    assert.deepEqual(t.broker.rejected, [{ tag: late.delivery.tag, requeue: true }]);
    const early = await t.job({ task: "parts.add" });
    await t.acker.ack(early);
    await t.acker.record(early, { kind: "lost", reason: "child exited", runtime: 0 });
    const meta = await t.backend.get(early.request.id);
    assert.equal((meta?.result as { exc_type: string }).exc_type, "WorkerLostError");
  });

  it("a backend that is away under a late-ack outcome: the message goes back, not acked", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.late" });
    t.backend.store = () => Promise.reject(new Error("backend unreachable"));
    await t.acker.record(job, { kind: "success", value: 1, runtime: 0.001 });
    assert.deepEqual(t.broker.rejected, [{ tag: job.delivery.tag, requeue: true }]);
    assert.equal(job.acked, false);
    assert.match(t.captured.at("error")[0] ?? "", /cannot record its outcome: backend unreachable; message requeued/);
  });

  it("a task that rejects its message with requeue: put back, not acked", async () => {
    const t = await setup();
    const job = await t.job({ task: "parts.late" });
    await t.acker.record(job, { kind: "reject", requeue: true, reason: "not now", runtime: 0.001 });
    assert.deepEqual(t.broker.rejected, [{ tag: job.delivery.tag, requeue: true }]);
    assert.equal(await t.broker.size(QUEUE), 1);
  });
});
