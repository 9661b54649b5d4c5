// How long pool children live, and what a pool does with what it cannot hand
// over: signals to the whole process group are a warm shutdown, a worker
// killed with kill -9 leaves no child running, a message or outcome that
// cannot cross to or from a child fails that task alone, and a stray error
// in an async-pool task fails that task, not the worker.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Celeriac, HandOffError } from "../../src/index.js";
import { createLogger } from "../../src/log.js";
import { encodeTask } from "../../src/protocol/message.js";
import { IsolatedPool } from "../../src/worker/pools/isolated.js";
import { localRequest, type TaskRequest } from "../../src/task.js";
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

/** A pool of `size` children running the pool app, started, as the worker drives it (no worker around it). */
async function startPool(kind: "process" | "thread", size: number): Promise<IsolatedPool> {
  const pool = new IsolatedPool({
    kind,
    size,
    appModule: fileURLToPath(new URL("../fixtures/pool-app.ts", import.meta.url)),
    log: createLogger("pool-test", "fatal"),
  });
  await pool.start();
  return pool;
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
      const claimsOf = (pid: number) => readdirSync("/dev/shm").filter((d) => d.startsWith(`celeriac-pool-${pid}-`));
      assert.equal(claimsOf(victim.pid).length, 1, "the killed worker left its claim directory");
      rescuer = await startWorker(APP, ["-P", "process", "-c", "1", "-l", "info"], s.env);
      assert.deepEqual(claimsOf(victim.pid), [], "the next pool removed the dead worker's claim directory");
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

  it("kill -9 of a child holding a window: the task it ran is requeued (acks late), those it had not started run once in its replacement", async () => {
    const s = store();
    // One child, prefetch 4: all four tasks are handed to it, three wait behind the first.
    const w = await startWorker(APP, ["-P", "process", "-c", "1", "-l", "info"], s.env);
    const first = join(dir, `first-${n}.jsonl`);
    const queued = join(dir, `queued-${n}.jsonl`);
    const running = s.app.sendTask<number>("pool.long", [first, 4000]);
    const behind = [s.app.sendTask<number>("pool.long", [queued, 10]), s.app.sendTask<number>("pool.long", [queued, 10])];
    const earlyAck = s.app.sendTask<string>("pool.nap", [10, "early-ack"]);
    await waitUntil("the first task to start", () => lines(first).length === 1, 20_000);
    await waitUntil("all four to be received", () => (w.output().match(/\] received/g) ?? []).length === 4, 20_000);
    const victim = (JSON.parse(lines(first)[0]!) as { pid: number }).pid;
    assert.equal(lines(queued).length, 0, "nothing behind it started");
    process.kill(victim, "SIGKILL");
    assert.deepEqual(await Promise.all(behind.map((r) => r.get({ timeout: 20_000 }))), [10, 10]);
    assert.equal(await earlyAck.get({ timeout: 20_000 }), "early-ack", "an early-acked task it held is not lost");
    const ran = lines(queued).map((l) => (JSON.parse(l) as { pid: number }).pid);
    assert.equal(ran.length, 2, "each ran once");
    assert.ok(!ran.includes(victim), "in the replacement, not the killed child");
    assert.equal(await running.get({ timeout: 30_000 }), 4000, "the one it ran was delivered again");
    assert.equal(lines(first).length, 2);
    assert.match(w.output(), /exited.*requeued/);
    assert.match(w.output(), /exited \(code null\): 3 task\(s\) it held and had not started run in another child/);
    assert.equal(await w.stop(), 0);
    await s.app.close();
  });

  it("is fair with a window: a long synchronous task (its child reads nothing) does not hold back the tasks handed to it", async () => {
    const s = store();
    const w = await startWorker(APP, ["-P", "process", "-c", "2", "-l", "warning"], s.env);
    // One at a time, so the first child is busy in the spin when the rest arrive and some are handed to it.
    const long = s.app.sendTask<string>("pool.spin", [8000, "long"]);
    const shorts = Array.from({ length: 8 }, (_, i) => s.app.sendTask<string>("pool.spin", [20, `s${i}`]));
    assert.deepEqual(
      await Promise.all(shorts.map((r) => r.get({ timeout: 30_000 }))),
      shorts.map((_, i) => `s${i}`),
    );
    assert.equal(await long.ready(), false, "the short tasks finished while the long one still ran");
    assert.equal(await long.get({ timeout: 30_000 }), "long");
    assert.equal(await w.stop(), 0);
    await s.app.close();
  });

  it("tasks moved between children again and again (fair dispatch) each run exactly once", async () => {
    // Driven as the dispatcher drives it: a task whenever a child has room. Mixed
    // synchronous durations make heads long and short in turn, so waiting tasks
    // are taken back and moved, some more than once, while their first child may
    // still look at them.
    const pool = await startPool("process", 3);
    const file = join(dir, "moved.txt");
    const total = 1000;
    let sent = 0;
    let finished = 0;
    const outcomes: Promise<unknown>[] = [];
    try {
      await new Promise<void>((resolve) => {
        const feed = () => {
          // Fewer in flight than the windows hold (as a worker's prefetch often is), so children have room and tasks move.
          while (sent < total && pool.idle() > 0 && sent - finished < 7) {
            const i = sent++;
            const ms = i % 7 === 0 ? 12 : i % 3 === 0 ? 3 : 0;
            outcomes.push(
              pool
                .run({ request: localRequest(`t${i}`, "pool.spinRecord", [file, ms, `t${i}`], { hostname: "test", origin: "test" }), hardTimeLimit: null })
                .finally(() => {
                  finished++;
                  feed();
                }),
            );
          }
          if (sent === total) resolve();
        };
        pool.onIdle = feed;
        feed();
      });
      const done = (await Promise.all(outcomes)) as { kind: string }[];
      assert.deepEqual(
        done.filter((o) => o.kind !== "success"),
        [],
      );
      const ran = lines(file);
      const counts = new Map<string, number>();
      for (const tag of ran) counts.set(tag, (counts.get(tag) ?? 0) + 1);
      assert.deepEqual(
        [...counts].filter(([, c]) => c > 1),
        [],
        "no task ran twice",
      );
      assert.equal(counts.size, total);
    } finally {
      await pool.close(true);
    }
  });

  it("a task revoked while it waits in a child's window is taken back and not run; the running one is not withdrawn", async () => {
    const pool = await startPool("process", 1);
    const file = join(dir, "withdrawn.txt");
    const run = (id: string, ms: number) =>
      pool.run({ request: localRequest(id, "pool.spinRecord", [file, ms, id], { hostname: "test", origin: "test" }), hardTimeLimit: null });
    try {
      const head = run("head", 600);
      const waiting = run("waiting", 0);
      const after = run("after", 0);
      assert.equal(pool.withdraw("head"), false, "the running task is not taken back");
      assert.equal(pool.withdraw("waiting"), true);
      assert.deepEqual(await waiting, { kind: "revoked", why: "revoked" });
      assert.equal((await head).kind, "success");
      assert.equal((await after).kind, "success");
      assert.deepEqual(lines(file), ["head", "after"], "the withdrawn task never ran");
      assert.equal(pool.withdraw("unknown"), false);
    } finally {
      await pool.close(true);
    }
  });

  for (const kind of ["process", "thread"] as const) {
    it(`${kind} pool: a request that cannot be handed to the child fails with HandOffError and frees the slot`, async () => {
      const pool = await startPool(kind, 1);
      const free = pool.idle();
      try {
        const request = (id: string, task: string, args: unknown[]): TaskRequest => localRequest(id, task, args, { hostname: "test", origin: "test" });
        for (let i = 0; i < 3; i++) {
          const bad = await pool.run({ request: request(`bad-${i}`, "pool.tagOf", ["x", () => "a function cannot be cloned"]), hardTimeLimit: null });
          assert.equal(bad.kind, "failure");
          assert.equal((bad as { exc: { exc_type: string } }).exc.exc_type, HandOffError.name);
          assert.match(String((bad as { exc: { exc_message: unknown[] } }).exc.exc_message), /cannot be handed to a pool child/);
          assert.equal(pool.idle(), free, "the slot is free again");
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
    await w.waitFor(
      /uncaught exception from task pool\.lateTimer\[.*\], which is not running any more: Error: thrown after the task finished; the worker goes on/,
      10_000,
    );
    assert.equal(await s.app.sendTask("pool.nap", [10, "good"]).get({ timeout: 15_000 }), "good");
    assert.ok(alive(w), `the worker is up; output:\n${w.output().slice(-3000)}`);
    assert.match(w.output(), /ERROR.*pool\.timerThrows\[.*\]: uncaught exception in its code: RangeError: thrown from a timer/);
    assert.equal(await w.stop("SIGTERM"), 0);
    await s.app.close();
  });
});
