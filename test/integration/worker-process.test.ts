// Real worker processes on one SQLite file: throughput with two workers,
// kill -9 with late-ack tasks in flight, warm and cold shutdown, child crashes,
// hard time limits, child recycling, the thread pool.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { encodeTask } from "../../src/protocol/message.js";
import { startWorker } from "../support/processes.js";

const APP = "test/fixtures/app.ts";
const dir = mkdtempSync(join(tmpdir(), "celeriac-proc-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh sqlite store and the env that points workers at it. */
function store(extra: Record<string, string> = {}) {
  const db = join(dir, `s${n++}.db`);
  const url = `sqlite://${db}`;
  const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, ...extra };
  const app = new Celeriac({
    name: "client",
    broker: url,
    backend: url,
    ...(extra.CELERIAC_BROKER_TRANSPORT_OPTIONS ? { brokerTransportOptions: JSON.parse(extra.CELERIAC_BROKER_TRANSPORT_OPTIONS) } : {}),
  });
  return { url, env, app, log: join(dir, `log${n}.txt`) };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

describe("worker processes on sqlite", () => {
  it("runs 1,000 tasks through 2 worker processes, each exactly once, every result right", async () => {
    const s = store();
    const workers = await Promise.all([startWorker(APP, ["-c", "2", "-l", "warning"], s.env), startWorker(APP, ["-c", "2", "-l", "warning"], s.env)]);
    const results = Array.from({ length: 1000 }, (_, i) => s.app.sendTask<number>("fixture.record", [s.log, i]));
    const values = await Promise.all(results.map((r) => r.get({ timeout: 60_000 })));
    assert.deepEqual(
      values,
      Array.from({ length: 1000 }, (_, i) => i * 2),
    );
    const ran = lines(s.log);
    assert.equal(ran.length, 1000, "no task ran twice");
    assert.equal(new Set(ran).size, 1000);
    for (const w of workers) assert.equal(await w.stop(), 0);
    await s.app.close();
  });

  it("kill -9 of a worker holding acksLate tasks: they come back after the visibility timeout and complete", async () => {
    const s = store({ CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout": 2}' });
    const victim = await startWorker(APP, ["-c", "2", "-l", "info"], s.env);
    // Long enough that none can finish between the "received" line and the kill on a loaded machine.
    const results = Array.from({ length: 6 }, () => s.app.sendTask<number>("fixture.slowRecord", [s.log, 4000]));
    await victim.waitFor(/slowRecord\[.*\] received/);
    victim.proc.kill("SIGKILL");
    await victim.exited;
    assert.equal(lines(s.log).length, 0, "nothing finished before the kill");
    const rescuer = await startWorker(APP, ["-c", "3", "-l", "warning"], s.env);
    const values = await Promise.all(results.map((r) => r.get({ timeout: 30_000 })));
    assert.deepEqual(values, Array(6).fill(4000));
    assert.equal(new Set(lines(s.log)).size, 6);
    await rescuer.stop();
    await s.app.close();
  });

  it("warm shutdown on SIGTERM finishes the running task, then exits 0", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info"], s.env);
    const r = s.app.sendTask<number>("fixture.slowRecord", [s.log, 1200]);
    await w.waitFor(/slowRecord\[.*\] received/);
    const code = await w.stop("SIGTERM");
    assert.equal(code, 0);
    assert.deepEqual(lines(s.log), [r.id], "the running task finished before exit");
    assert.equal(await r.get({ timeout: 10_000 }), 1200);
    assert.match(w.output(), /warm shutdown/);
    await s.app.close();
  });

  it("a second signal makes a cold shutdown; the late-ack task is delivered again", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info"], s.env);
    const r = s.app.sendTask<number>("fixture.slowRecord", [s.log, 6000]);
    await w.waitFor(/slowRecord\[.*\] received/);
    w.proc.kill("SIGTERM");
    await w.waitFor(/warm shutdown/);
    w.proc.kill("SIGTERM");
    await w.exited;
    // The task writes its id when it finishes: a cold shutdown exits before that, however slow the machine.
    assert.equal(lines(s.log).length, 0, "cold shutdown does not wait for the task");
    assert.match(w.output(), /cold shutdown/);
    const again = await startWorker(APP, ["-c", "1", "-l", "warning"], s.env);
    assert.equal(await r.get({ timeout: 30_000 }), 6000);
    assert.deepEqual(lines(s.log), [r.id], "run to the end once, by the second worker");
    await again.stop();
    await s.app.close();
  });

  it("a pool child that dies under an acksLate task is replaced and the task runs again", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info"], s.env);
    const marker = join(dir, `marker-${n}`);
    assert.equal(await s.app.sendTask("fixture.crashOnce", [marker]).get({ timeout: 20_000 }), "survived");
    assert.match(w.output(), /exited.*requeued/);
    assert.equal(await s.app.sendTask("fixture.add", [1, 1]).get({ timeout: 10_000 }), 2, "the worker goes on");
    await w.stop();
    await s.app.close();
  });

  it("a hard time limit kills the child; the task fails with TimeLimitExceeded and the next task runs", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info", "--time-limit", "1"], s.env);
    const hung = s.app.sendTask("fixture.hang", []);
    await assert.rejects(hung.get({ timeout: 15_000 }), (e: Error) => e.name === "TimeLimitExceeded");
    assert.equal(await s.app.sendTask("fixture.add", [2, 2]).get({ timeout: 15_000 }), 4);
    await w.stop();
    await s.app.close();
  });

  it("--max-tasks-per-child replaces children without losing a task", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info", "--max-tasks-per-child", "2"], s.env);
    const pids: number[] = [];
    for (let i = 0; i < 6; i++) pids.push(await s.app.sendTask<number>("fixture.pid", []).get({ timeout: 15_000 }));
    assert.equal(new Set(pids).size, 3, `pids: ${pids.join(",")}`);
    await w.stop();
    await s.app.close();
  });

  it("the thread pool runs tasks in worker threads of one process", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "2", "-P", "thread", "-l", "warning"], s.env);
    const pids = await Promise.all(Array.from({ length: 4 }, () => s.app.sendTask<number>("fixture.pid", []).get({ timeout: 15_000 })));
    assert.deepEqual(new Set(pids), new Set([w.pid]));
    assert.equal(await s.app.sendTask("fixture.add", [3, 4]).get({ timeout: 15_000 }), 7);
    await w.stop();
    await s.app.close();
  });

  it("rejectOnWorkerLost: false makes a lost child a FAILURE with WorkerLostError", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "warning"], s.env);
    await assert.rejects(s.app.sendTask("fixture.crashStrict", []).get({ timeout: 15_000 }), (e: Error) => e.name === "WorkerLostError");
    await w.stop();
    await s.app.close();
  });

  it("a per-call timeLimit kills only that call", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "warning"], s.env);
    await assert.rejects(
      s.app.sendTask("fixture.hang", [], undefined, { timeLimit: 1 }).get({ timeout: 15_000 }),
      (e: Error) => e.name === "TimeLimitExceeded",
    );
    assert.equal(await s.app.sendTask("fixture.sleep", [100]).get({ timeout: 15_000 }), 100);
    await w.stop();
    await s.app.close();
  });

  it("is fair: a long task does not hold back short ones already prefetched", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "2", "-l", "warning"], s.env);
    const long = s.app.sendTask("fixture.sleep", [8000, "long"]);
    const shorts = Array.from({ length: 6 }, (_, i) => s.app.sendTask("fixture.sleep", [50, `s${i}`]));
    await Promise.all(shorts.map((r) => r.get({ timeout: 30_000 })));
    assert.equal(await long.ready(), false, "short tasks finished while the long one still ran");
    assert.equal(await long.get({ timeout: 30_000 }), "long");
    await w.stop();
    await s.app.close();
  });

  it("--max-memory-per-child replaces a child above the limit without losing a task", async () => {
    const s = store();
    // Any child is above 1 MB, so each task gets a fresh child.
    const w = await startWorker(APP, ["-c", "1", "-l", "info", "--max-memory-per-child", "1000"], s.env);
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) pids.push(await s.app.sendTask<number>("fixture.pid", []).get({ timeout: 15_000 }));
    assert.equal(new Set(pids).size, 3);
    assert.match(w.output(), /replacing pool child/);
    await w.stop();
    await s.app.close();
  });

  it("an unknown task, an undecodable body and a disallowed content type do not stop the worker", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "info"], s.env);
    const broker = await s.app.broker();
    const garbled = encodeTask({ task: "fixture.add", args: [1, 2] });
    await broker.publish({ queue: "celery" }, { ...garbled, body: Buffer.from("\u0000not json") });
    const msgpack = encodeTask({ task: "fixture.add", args: [1, 2] }, { serializer: "msgpack" });
    await broker.publish({ queue: "celery" }, msgpack);
    const unknown = s.app.sendTask("fixture.nope", [1]);
    await assert.rejects(unknown.get({ timeout: 15_000 }), (e: Error) => e.name === "TaskNotRegistered");
    await assert.rejects(s.app.AsyncResult(String(garbled.headers.id)).get({ timeout: 15_000 }), (e: Error) => e.name === "DecodeError");
    await assert.rejects(s.app.AsyncResult(String(msgpack.headers.id)).get({ timeout: 15_000 }), (e: Error) => e.name === "ContentDisallowed");
    assert.equal(await s.app.sendTask("fixture.add", [20, 22]).get({ timeout: 15_000 }), 42);
    assert.match(w.output(), /unregistered task fixture\.nope\[/);
    assert.equal(await w.stop(), 0);
    await s.app.close();
  });

  it("compressed messages (zlib, as the seeds configure) run end to end", async () => {
    const s = store();
    const w = await startWorker(APP, ["-c", "1", "-l", "warning"], s.env);
    s.app.configFromObject({ CELERY_MESSAGE_COMPRESSION: "zlib" });
    const r = s.app.sendTask("fixture.add", [2, 40]);
    assert.equal(await r.get({ timeout: 15_000 }), 42);
    await w.stop();
    await s.app.close();
  });
});
