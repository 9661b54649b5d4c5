// Pools whose tasks run isolated from the worker: child processes (`process`,
// the prefork equivalent) or worker threads (`thread`). Each child runs one task
// at a time. A child that dies, exceeds a hard time limit, is terminated, or has
// served its quota (maxTasksPerChild / maxMemoryPerChild) is replaced; the
// worker itself goes on.
import { fork, type ChildProcess } from "node:child_process";
import { Worker as Thread } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { HandOffError, TaskRevokedError, TimeLimitExceeded, serializeError } from "../../errors.js";
import { logSafe, type Logger } from "../../log.js";
import type { Pool, PoolJob, PoolOutcome } from "../pool.js";
import type { FromChild, ToChild } from "../child.js";
import { postFlatIfDeep, received, type Wire } from "../handoff.js";
import { setLongTimeout, type LongTimeout } from "../../util/long-timer.js";

interface ChildHandle {
  readonly id: number;
  /** Throws when the message cannot be sent (see postFlatIfDeep). */
  send(m: ToChild): void;
  kill(): void;
}

interface Running {
  job: PoolJob;
  resolve: (o: PoolOutcome) => void;
  started: number;
  timer: LongTimeout | null;
}

interface Slot {
  child: ChildHandle;
  ready: boolean;
  running: Running | null;
  tasksRun: number;
  /** Set when we stop the child on purpose: its exit is not a loss. */
  retiring: boolean;
}

export interface IsolatedPoolOptions {
  kind: "process" | "thread";
  size: number;
  appModule: string;
  log: Logger;
  maxTasksPerChild?: number | null;
  /** Kilobytes of resident memory after which a child is replaced. */
  maxMemoryPerChild?: number | null;
}

const here = import.meta.url;
const childEntry = new URL(here.endsWith(".ts") ? "../child.ts" : "../child.js", here);

function needsTsx(appModule: string): boolean {
  return here.endsWith(".ts") || /\.[mc]?tsx?$/.test(appModule);
}

export class IsolatedPool implements Pool {
  readonly kind: "process" | "thread";
  size: number;
  onIdle: (() => void) | null = null;
  private readonly slots = new Set<Slot>();
  private closing = false;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly opts: IsolatedPoolOptions) {
    this.kind = opts.kind;
    this.size = opts.size;
  }

  async start(): Promise<void> {
    const starts: Promise<void>[] = [];
    for (let i = 0; i < this.size; i++) starts.push(this.spawn());
    await Promise.all(starts);
  }

  async resize(size: number): Promise<number> {
    const grow: Promise<void>[] = [];
    while (this.slots.size - this.retiringCount() < size && grow.length < size) grow.push(this.spawn());
    // Shrink by retiring idle children first; busy ones retire when their task ends.
    for (const slot of this.slots) {
      if (this.slots.size - this.retiringCount() <= size) break;
      if (!slot.retiring) this.retire(slot, false);
    }
    this.size = size;
    await Promise.all(grow);
    return size;
  }

  private retiringCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.retiring) n++;
    return n;
  }

  idle(): number {
    let n = 0;
    for (const s of this.slots) if (s.ready && !s.running && !s.retiring) n++;
    return n;
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const slot: Slot = { child: null as unknown as ChildHandle, ready: false, running: null, tasksRun: 0, retiring: false };
      const onMessage = (m: FromChild) => this.onChildMessage(slot, m, resolve, reject);
      const onExit = (code: number | null) => this.onChildExit(slot, code, reject);
      slot.child = this.kind === "process" ? this.forkProcess(onMessage, onExit) : this.startThread(onMessage, onExit);
      this.slots.add(slot);
    });
  }

  private forkProcess(onMessage: (m: FromChild) => void, onExit: (code: number | null) => void): ChildHandle {
    const execArgv = process.execArgv.filter((a) => !a.startsWith("--inspect"));
    if (needsTsx(this.opts.appModule) && !execArgv.some((a) => a.includes("tsx"))) {
      execArgv.push("--import", import.meta.resolve("tsx"));
    }
    const cp: ChildProcess = fork(fileURLToPath(childEntry), [], {
      execArgv,
      env: { ...process.env, CELERIAC_APP: this.opts.appModule, CELERIAC_CHILD: "1" },
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    cp.on("message", (m) => onMessage(received(m as Wire<FromChild>)));
    cp.on("exit", (code) => onExit(code));
    cp.on("error", () => {}); // reported through 'exit'
    return {
      id: cp.pid ?? -1,
      send: (m) => {
        if (cp.connected) postFlatIfDeep((w) => void cp.send(w), m);
      },
      kill: () => cp.kill("SIGKILL"),
    };
  }

  private startThread(onMessage: (m: FromChild) => void, onExit: (code: number | null) => void): ChildHandle {
    const workerData = { appModule: this.opts.appModule };
    // A thread does not inherit the TypeScript loader: register it first, then load the entry.
    const t = needsTsx(this.opts.appModule)
      ? new Thread(
          `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => m.register())` +
            `.then(() => import(${JSON.stringify(childEntry.href)}))`,
          { eval: true, workerData },
        )
      : new Thread(childEntry, { workerData });
    t.on("message", (m: Wire<FromChild>) => onMessage(received(m)));
    t.on("exit", (code) => onExit(code));
    t.on("error", (err) => this.opts.log.error({ err }, "pool thread failed"));
    return { id: t.threadId, send: (m) => postFlatIfDeep((w) => t.postMessage(w), m), kill: () => void t.terminate() };
  }

  private onChildMessage(slot: Slot, m: FromChild, resolve: () => void, reject: (e: Error) => void): void {
    if (m.type === "ready") {
      slot.ready = true;
      resolve();
      this.onIdle?.();
      return;
    }
    if (m.type === "fatal") {
      slot.retiring = true;
      reject(new Error(`pool child could not start: ${m.error}`));
      return;
    }
    const running = slot.running;
    if (!running || running.job.request.id !== m.id) return;
    this.finish(slot, m.outcome);
    slot.tasksRun++;
    if (slot.retiring) {
      slot.child.send({ type: "exit" });
      return;
    }
    const { maxTasksPerChild, maxMemoryPerChild } = this.opts;
    if ((maxTasksPerChild && slot.tasksRun >= maxTasksPerChild) || (maxMemoryPerChild && m.rss / 1024 > maxMemoryPerChild)) {
      this.opts.log.info(`replacing pool child ${slot.child.id} after ${slot.tasksRun} tasks (rss ${Math.round(m.rss / 1024)} KB)`);
      this.retire(slot, false);
    }
    this.onIdle?.();
  }

  private onChildExit(slot: Slot, code: number | null, reject: (e: Error) => void): void {
    this.slots.delete(slot);
    if (!slot.ready && !slot.retiring) reject(new Error(`pool child exited with code ${code} before it was ready`));
    if (slot.running) {
      const r = slot.running;
      this.finish(slot, { kind: "lost", reason: `pool child ${slot.child.id} exited (code ${code})`, runtime: (performance.now() - r.started) / 1000 });
    }
    if (!this.closing && slot.ready && this.slots.size < this.size) {
      this.spawn().catch((err: Error) => this.opts.log.error(`cannot replace pool child: ${err.message}`));
    }
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private finish(slot: Slot, outcome: PoolOutcome): void {
    const r = slot.running;
    if (!r) return;
    slot.running = null;
    r.timer?.clear();
    r.resolve(outcome);
  }

  /** Stops a child on purpose; its replacement is spawned when it exits. */
  private retire(slot: Slot, kill: boolean): void {
    slot.retiring = true;
    if (kill) slot.child.kill();
    else if (!slot.running) slot.child.send({ type: "exit" });
    // A busy child gets its exit when its task is done (see onChildMessage).
  }

  run(job: PoolJob): Promise<PoolOutcome> {
    const slot = [...this.slots].find((s) => s.ready && !s.running && !s.retiring);
    if (!slot) return Promise.reject(new Error("no idle pool child"));
    return new Promise<PoolOutcome>((resolve) => {
      const started = performance.now();
      const timer = job.hardTimeLimit
        ? setLongTimeout(() => {
            const err = new TimeLimitExceeded(`hard time limit (${job.hardTimeLimit}s) exceeded`);
            this.opts.log.error(`task ${logSafe(job.request.task)}[${logSafe(job.request.id)}] exceeded its hard time limit: killing child ${slot.child.id}`);
            this.finish(slot, { kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - started) / 1000 });
            this.retire(slot, true);
          }, job.hardTimeLimit * 1000)
        : null;
      slot.running = { job, resolve, started, timer };
      try {
        slot.child.send({ type: "run", request: job.request });
      } catch (err) {
        // Nothing reached the child: the slot is free again, and the task fails
        // (it would fail the same way every time it was delivered).
        const exc = new HandOffError(`task ${job.request.task}[${job.request.id}] cannot be handed to a pool child: ${(err as Error).message}`);
        this.opts.log.error(logSafe(exc.message));
        this.finish(slot, { kind: "failure", exc: serializeError(exc), traceback: null, runtime: 0 });
      }
    });
  }

  terminate(taskId: string): boolean {
    for (const slot of this.slots) {
      const r = slot.running;
      if (r && r.job.request.id === taskId) {
        const err = new TaskRevokedError("terminated");
        this.finish(slot, { kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - r.started) / 1000 });
        this.retire(slot, true);
        return true;
      }
    }
    return false;
  }

  async close(graceful: boolean): Promise<void> {
    this.closing = true;
    if (graceful) {
      while ([...this.slots].some((s) => s.running)) await new Promise((r) => setTimeout(r, 10));
    }
    for (const slot of this.slots) this.retire(slot, !graceful);
    const deadline = Date.now() + 5000;
    while (this.slots.size && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.readyWaiters.push(r);
        setTimeout(r, 100);
      });
    }
    for (const slot of this.slots) slot.child.kill();
  }
}

