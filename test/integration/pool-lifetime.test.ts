// How long pool children live, and what a pool does with what it cannot hand
// over: signals to the whole process group are a warm shutdown, a worker
// killed with kill -9 leaves no child running, a message or outcome that
// cannot cross to or from a child fails that task alone, and a stray error
// in an async-pool task fails that task, not the worker.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Celeriac, HandOffError } from "../../src/index.js";
import { createLogger } from "../../src/log.js";
import { encodeTask } from "../../src/protocol/message.js";
import { IsolatedPool } from "../../src/worker/pools/isolated.js";
import type { TaskRequest } from "../../src/task.js";
import { killGroup, startWorker, type RunningProcess } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const APP = "test/fixtures/pool-app.ts";
const dir = mkdtempSync(join(tmpdir(), "celeriac-pool-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh sqlite store, the env that points workers at it, and a client app. */
function store(transport?: Record<string, unknown>) {
  const url = `sqlite://${join(dir, `s${n++}.db`)}`;
  const env: Record<string, string> = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
  if (transport) env.CELERIAC_BROKER_TRANSPORT_OPTIONS = JSON.stringify(transport);
  const app = new Celeriac({ name: "client", broker: url, backend: url, ...(transport ? { brokerTransportOptions: transport } : {}) });
  return { env, app };
}

/** Whether a process is running (a zombie is not: nobody may reap it in a container). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);
const deep = (levels: number) => `${"[".repeat(levels)}0${"]".repeat(levels)}`;
const alive = (w: RunningProcess) => w.proc.exitCode === null && w.proc.signalCode === null;

describe("pool children and signals", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} to the worker's whole process group (as Ctrl-C, timeout, systemd) is a warm shutdown: running tasks end SUCCESS, exit 0`, async () => {
      const s = store();
      const w = await startWorker(APP, ["-P", "process", "-c", "2", "-l", "info"], s.env);
      const results = [s.app.sendTask("pool.nap", [3000, "a"]), s.app.sendTask("pool.nap", [3000, "b"])];
      await waitUntil("both tasks to be received", () => (w.output().match(/pool\.nap\[.*\] received/g) ?? []).length === 2, 20_000);
      w.signalGroup(signal);
      const code = await w.exited;
      assert.equal(code, 0, `exit code; output:\n${w.output().slice(-3000)}`);
      for (const [i, r] of results.entries()) {
        const meta = await s.app.backend().then((b) => b.get(r.id));
        assert.equal(meta?.status, "SUCCESS", `task ${i}: ${JSON.stringify(meta)}`);
      }
      assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: 1000 }))), ["a", "b"]);
      await s.app.close();
    });
  }

  it("kill -9 of the worker: its pool child stops, and the task delivered again never runs beside it", async () => {
    const s = store({ visibilityTimeout: 2 });
    const record = join(dir, `long-${n}`);
    const victim = await startWorker(APP, ["-P", "process", "-c", "1", "-l", "info"], s.env);
    let rescuer: RunningProcess | null = null;
    try {
      s.app.sendTask("pool.long", [record, 60_000]);
      await waitUntil("the task to start in a pool child", () => lines(record).length === 1, 20_000);
      const child = (JSON.parse(lines(record)[0]!) as { pid: number }).pid;
      assert.notEqual(child, victim.pid, "the task runs in a child process");
      victim.proc.kill("SIGKILL"); // the parent only, not its group
      await victim.exited;
      await waitUntil(`orphaned pool child ${child} to stop`, () => !running(child), 10_000);
      rescuer = await startWorker(APP, ["-P", "process", "-c", "1", "-l", "info"], s.env);
      await waitUntil("the task to be delivered again and start", () => lines(record).length === 2, 20_000);
      const second = JSON.parse(lines(record)[1]!) as { pid: number; othersRunning: number[] };
      assert.deepEqual(second.othersRunning, [], "no earlier copy was running when the second one started");
    } finally {
      killGroup(victim.proc, "SIGKILL");
      if (rescuer) killGroup(rescuer.proc, "SIGKILL");
      await s.app.close();
    }
  });
});

describe("what cannot cross to or from a pool child", () => {
  it("-c 1: messages 6,000 and 100,000 levels deep run, unsendable outcomes fail with HandOffError, the good tasks after them run, warm shutdown ends", async () => {
    const s = store();
    const w = await startWorker(APP, ["-P", "process", "-c", "1", "-l", "info"], s.env);
    const broker = await s.app.broker();
    const deepIds: [string, string][] = [];
    for (const levels of [6000, 6000, 100_000]) {
      const tag = `deep-${levels}-${deepIds.length}`;
      const m = encodeTask({ task: "pool.tagOf", args: [tag] });
      await broker.publish({ queue: "celery" }, { ...m, body: Buffer.from(`[["${tag}", ${deep(levels)}], {}, {}]`) });
      deepIds.push([m.headers.id as string, tag]);
    }
    const unsendable = [s.app.sendTask("pool.unsendable", []), s.app.sendTask("pool.unsendable", [])];
    const good = Array.from({ length: 3 }, (_, i) => s.app.sendTask("pool.nap", [10, `good-${i}`]));
    assert.deepEqual(await Promise.all(good.map((r) => r.get({ timeout: 20_000 }))), ["good-0", "good-1", "good-2"]);
    for (const [id, tag] of deepIds) assert.equal(await s.app.AsyncResult(id).get({ timeout: 5000 }), tag);
    for (const r of unsendable) {
      await assert.rejects(r.get({ timeout: 5000 }), (e: Error) => e.name === "HandOffError" && /cannot be sent to the worker/.test(e.message));
    }
    assert.ok(alive(w), "the worker is up");
    assert.equal(await w.stop("SIGTERM"), 0, `warm shutdown; output:\n${w.output().slice(-3000)}`);
    await s.app.close();
  });

  for (const kind of ["process", "thread"] as const) {
    it(`${kind} pool: a request that cannot be handed to the child fails with HandOffError and frees the slot`, async () => {
      const pool = new IsolatedPool({ kind, size: 1, appModule: fileURLToPath(new URL("../fixtures/pool-app.ts", import.meta.url)), log: createLogger("pool-test", "fatal") });
      await pool.start();
      try {
        const request = (id: string, task: string, args: unknown[]): TaskRequest => ({
          id, task, args, kwargs: {}, retries: 0, hostname: "test", deliveryInfo: { exchange: "", routing_key: "celery" },
          eta: null, expires: null, parentId: null, rootId: id, groupId: null, groupIndex: null, correlationId: id,
          replyTo: null, origin: "test", timeLimit: [null, null], headers: {}, ignoreResult: false, isEager: false,
        });
        for (let i = 0; i < 3; i++) {
          const bad = await pool.run({ request: request(`bad-${i}`, "pool.tagOf", ["x", () => "a function cannot be cloned"]), hardTimeLimit: null });
          assert.equal(bad.kind, "failure");
          assert.equal((bad as { exc: { exc_type: string } }).exc.exc_type, HandOffError.name);
          assert.match(String((bad as { exc: { exc_message: unknown[] } }).exc.exc_message), /cannot be handed to a pool child/);
          assert.equal(pool.idle(), 1, "the slot is free again");
        }
        const ok = await pool.run({ request: request("good", "pool.tagOf", ["fine"]), hardTimeLimit: null });
        assert.deepEqual(ok.kind === "success" ? ok.value : ok, "fine");
      } finally {
        await pool.close(true);
      }
    });
  }
});

describe("async pool: stray errors in tasks", () => {
  it("a throw from a task's timer and a rejection nobody handles fail that task; the worker lives on", async () => {
    const s = store();
    const w = await startWorker(APP, ["-P", "async", "-c", "4", "-l", "info"], s.env);
    const timer = s.app.sendTask("pool.timerThrows", []);
    const rejection = s.app.sendTask("pool.unhandledRejection", []);
    const late = s.app.sendTask("pool.lateTimer", []);
    await assert.rejects(timer.get({ timeout: 15_000 }), (e: Error) => e.name === "RangeError" && /thrown from a timer/.test(e.message));
    await assert.rejects(rejection.get({ timeout: 15_000 }), (e: Error) => e.name === "TypeError" && /a rejection nobody handles/.test(e.message));
    assert.equal(await late.get({ timeout: 15_000 }), "done");
    await w.waitFor(/uncaught exception from task pool\.lateTimer\[.*\], which is not running any more: Error: thrown after the task finished; the worker goes on/, 10_000);
    assert.equal(await s.app.sendTask("pool.nap", [10, "good"]).get({ timeout: 15_000 }), "good");
    assert.ok(alive(w), `the worker is up; output:\n${w.output().slice(-3000)}`);
    assert.match(w.output(), /ERROR.*pool\.timerThrows\[.*\]: uncaught exception in its code: RangeError: thrown from a timer/);
    assert.equal(await w.stop("SIGTERM"), 0);
    await s.app.close();
  });
});
