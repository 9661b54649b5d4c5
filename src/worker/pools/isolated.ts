// Pools whose tasks run isolated from the worker: child processes (`process`,
// the prefork equivalent) or worker threads (`thread`). Each child runs one task
// at a time, and holds a few more (its window, child-slot.ts), sent while it runs, so it starts
// the next without waiting for a round trip to the worker (the tasks handed
// over in one turn go in one message). A child that dies, exceeds a hard time
// limit, is terminated, or has served its quota (maxTasksPerChild /
// maxMemoryPerChild) is replaced; the worker itself goes on.
//
// Fair dispatch (Celery's -O fair) is kept: a task waiting behind a long one
// (running over LONG_TASK_MS) is taken back (its claim, see claims.ts) and
// given to a child with room whose own task is not a long one.
// When a child dies, the tasks it held and had not started run elsewhere; the
// one it was running is lost (WorkerLostError, or requeued when acked late).
import { HandOffError, TaskRevokedError, TimeLimitExceeded, serializeError } from "../../errors.js";
import { logSafe, type Logger } from "../../log.js";
import type { Pool, PoolJob, PoolOutcome } from "../pool.js";
import type { FromChild } from "../child.js";
import { setLongTimeout } from "../../util/long-timer.js";
import type { TaskReport } from "../task-report.js";
import { ClaimDirectory, takeClaim } from "./claims.js";
import { startChild } from "./child-handle.js";
import { ChildSlot, type Assigned } from "./child-slot.js";

/** A task running this long (ms) is a long one: those behind it move to a child that has room. */
const LONG_TASK_MS = 5;

export interface IsolatedPoolOptions {
  kind: "process" | "thread";
  size: number;
  appModule: string;
  log: Logger;
  maxTasksPerChild?: number | null;
  /** Kilobytes of resident memory after which a child is replaced. */
  maxMemoryPerChild?: number | null;
}

export class IsolatedPool implements Pool {
  processes(): number[] {
    return [...this.slots].map((s) => s.child.id);
  }

  readonly kind: "process" | "thread";
  readonly startsLater = true;
  size: number;
  onIdle: (() => void) | null = null;
  private readonly slots = new Set<ChildSlot>();
  /** Tasks taken back from a child that died or retires, waiting for room. */
  private readonly homeless: Assigned[] = [];
  private claims: ClaimDirectory | null = null;
  private seq = 0;
  private flushing = false;
  private closing = false;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly opts: IsolatedPoolOptions) {
    this.kind = opts.kind;
    this.size = opts.size;
  }

  async start(): Promise<void> {
    this.claims = new ClaimDirectory();
    const starts: Promise<void>[] = [];
    for (let i = 0; i < this.size; i++) starts.push(this.spawn());
    await Promise.all(starts);
  }

  async resize(size: number): Promise<number> {
    const grow: Promise<void>[] = [];
    while (this.slots.size - this.retiringCount() < size && grow.length < size) grow.push(this.spawn());
    // Shrink by retiring idle children first; busy ones retire when their tasks end.
    for (const slot of [...this.slots].sort((a, b) => a.held.length - b.held.length)) {
      if (this.slots.size - this.retiringCount() <= size) break;
      if (!slot.retiring) this.retire(slot, false);
    }
    this.size = size;
    await Promise.all(grow);
    return size;
  }

  /** New children start now, so the pool keeps its size; the old ones retire once their running tasks end. */
  restart(): number {
    const old = [...this.slots].filter((s) => !s.retiring);
    for (const _ of old) this.spawn().catch((err: Error) => this.opts.log.error(`cannot start a pool child on restart: ${err.message}`));
    for (const slot of old) this.retire(slot, false);
    this.opts.log.info(`pool restart: replacing ${old.length} child${old.length === 1 ? "" : "ren"}`);
    return old.length;
  }

  private retiringCount(): number {
    let n = 0;
    for (const s of this.slots) if (s.retiring) n++;
    return n;
  }

  private room(s: ChildSlot): number {
    return s.room(this.opts.maxTasksPerChild);
  }

  idle(): number {
    let n = 0;
    for (const s of this.slots) n += this.room(s);
    return Math.max(0, n - this.homeless.length);
  }

  private spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const slot = new ChildSlot();
      slot.child = startChild(this.kind, this.opts.appModule, Boolean(this.opts.maxMemoryPerChild), {
        message: (m) => this.onChildMessage(slot, m, resolve, reject),
        exit: (code) => this.onChildExit(slot, code, reject),
        error: (err) => this.opts.log.error({ err }, "pool thread failed"),
      });
      this.slots.add(slot);
    });
  }

  private onChildMessage(slot: ChildSlot, m: FromChild, resolve: () => void, reject: (e: Error) => void): void {
    if (m.type === "ready") {
      slot.ready = true;
      resolve();
      this.roomMade();
      return;
    }
    if (m.type === "fatal") {
      slot.retiring = true;
      reject(new Error(`pool child could not start: ${m.error}`));
      return;
    }
    if (m.type === "report") {
      this.onReport(slot, m.seq, m.reportSeq, m.report);
      return;
    }
    if (m.type === "skipped") {
      // The child has passed a claim we took back: nobody looks at it again. By its path, not
      // the task: a task moved twice has a claim in each child, and each is released by its own.
      if (this.stolen.delete(m.claim)) this.claims?.release(m.claim);
      return;
    }
    const i = slot.held.findIndex((a) => a.seq === m.seq);
    if (i < 0) return; // Failed by a time limit or terminate already.
    const [done] = slot.held.splice(i, 1);
    if (done!.claim) this.claims?.release(done!.claim);
    this.finish(done!, m.outcome);
    slot.tasksRun++;
    this.startHead(slot);
    const { maxTasksPerChild, maxMemoryPerChild } = this.opts;
    if (
      !slot.retiring &&
      ((maxTasksPerChild && slot.tasksRun >= maxTasksPerChild) || (maxMemoryPerChild && m.rss !== null && m.rss / 1024 > maxMemoryPerChild))
    ) {
      this.opts.log.info(`replacing pool child ${slot.child.id} after ${slot.tasksRun} tasks (rss ${Math.round((m.rss ?? 0) / 1024)} KB)`);
      this.retire(slot, false);
    } else if (slot.retiring && !slot.held.length) {
      slot.child.send({ type: "exit" });
    }
    this.roomMade();
  }

  /** Claims taken back from a child that may still look at them (it answers "skipped", or exits), by path. */
  private readonly stolen = new Map<string, ChildSlot>();

  /** The child's first held task is running from now: its hard time limit starts. */
  private startHead(slot: ChildSlot): void {
    const a = slot.held[0];
    if (!a || a.started !== null) return;
    a.started = performance.now();
    a.job.onStart?.();
    const limit = a.job.hardTimeLimit;
    if (!limit) return;
    a.timer = setLongTimeout(() => {
      const err = new TimeLimitExceeded(`hard time limit (${limit}s) exceeded`);
      const req = a.job.request;
      this.opts.log.error(`task ${logSafe(req.task)}[${logSafe(req.id)}] exceeded its hard time limit: killing child ${slot.child.id}`);
      slot.held.shift();
      this.finish(a, { kind: "failure", exc: serializeError(err), traceback: null, runtime: this.runtimeOf(a) });
      this.retire(slot, true);
    }, limit * 1000);
  }

  private runtimeOf(a: Assigned): number {
    return a.started === null ? 0 : (performance.now() - a.started) / 1000;
  }

  /** Stores a running task's report through its job, and tells the child how it went. */
  private onReport(slot: ChildSlot, seq: number, reportSeq: number, r: TaskReport): void {
    const job = slot.held.find((a) => a.seq === seq)?.job;
    const recorded = job?.report ? job.report(r) : Promise.reject(new Error("the task is not running any more"));
    const answer = (error: { name: string; message: string } | null) => {
      try {
        slot.child.send({ type: "reported", reportSeq, error });
      } catch {
        // The child is gone: nobody waits for the answer.
      }
    };
    recorded.then(
      () => answer(null),
      (err: unknown) => answer(err instanceof Error ? { name: err.name, message: err.message } : { name: "Error", message: String(err) }),
    );
  }

  private onChildExit(slot: ChildSlot, code: number | null, reject: (e: Error) => void): void {
    this.slots.delete(slot);
    if (!slot.ready && !slot.retiring) reject(new Error(`pool child exited with code ${code} before it was ready`));
    const rehomed = this.homeless.length;
    for (const { a, unsent } of slot.drain()) {
      // One it never got, or had not started (we took its claim now), runs elsewhere; one it ran or may have started is lost.
      if (unsent || (a.claim !== null && takeClaim(a.claim) === "taken")) {
        if (a.claim !== null) this.claims?.release(a.claim);
        this.rehome(a);
      } else {
        this.finish(a, { kind: "lost", reason: `pool child ${slot.child.id} exited (code ${code})`, runtime: this.runtimeOf(a) });
      }
    }
    for (const [path, holder] of this.stolen) {
      if (holder !== slot) continue;
      this.stolen.delete(path);
      this.claims?.release(path);
    }
    if (this.homeless.length > rehomed && !slot.retiring) {
      this.opts.log.warn(
        `pool child ${slot.child.id} exited (code ${code}): ${this.homeless.length - rehomed} task(s) it held and had not started run in another child`,
      );
    }
    if (!this.closing && slot.ready && this.slots.size < this.size) {
      this.spawn().catch((err: Error) => this.opts.log.error(`cannot replace pool child: ${err.message}`));
    }
    for (const w of this.readyWaiters.splice(0)) w();
    this.roomMade();
  }

  private finish(a: Assigned, outcome: PoolOutcome): void {
    a.timer?.clear();
    a.timer = null;
    a.resolve(outcome);
  }

  /** Stops a child on purpose; its replacement is spawned when it exits. What it holds and has not started moves on. */
  private retire(slot: ChildSlot, kill: boolean): void {
    slot.retiring = true;
    if (kill) return slot.child.kill();
    let moved = false;
    for (const a of slot.held.slice(1)) {
      if (!this.takeBack(slot, a)) continue;
      this.rehome(a);
      moved = true;
    }
    if (!slot.held.length) slot.child.send({ type: "exit" });
    if (moved) queueMicrotask(() => this.roomMade());
    // A busy child gets its exit when its tasks are done (see onChildMessage).
  }

  /** Takes a waiting task back from its child; false when the child has started it (or may have). */
  private takeBack(slot: ChildSlot, a: Assigned): boolean {
    const taken = slot.takeBack(a);
    if (taken?.how === "claimed") this.stolen.set(taken.claim, slot);
    return taken !== null;
  }

  private rehome(a: Assigned): void {
    a.claim = null;
    a.started = null;
    a.timer?.clear();
    a.timer = null;
    this.homeless.push(a);
  }

  /**
   * A child has room: homeless tasks first, then the dispatcher fills it; then
   * tasks waiting behind a long one move to a child with room whose own task
   * is not a long one. A head that is not long yet is looked at again when it
   * would be (one timer), so a waiting task cannot be forgotten behind it.
   */
  private roomMade(): void {
    if (this.closing && !this.homeless.length) return;
    while (this.homeless.length) {
      const slot = this.bestSlot(null);
      if (!slot) break;
      this.assign(slot, this.homeless.shift()!);
    }
    this.onIdle?.();
    const now = performance.now();
    let recheckIn = Infinity;
    for (const from of this.slots) {
      const head = from.held[0];
      if (!head || from.held.length < 2 || head.started === null) continue;
      const age = now - head.started;
      if (age < LONG_TASK_MS) {
        if (this.bestSlot(from)) recheckIn = Math.min(recheckIn, LONG_TASK_MS - age);
        continue;
      }
      for (const a of from.held.slice(1)) {
        const to = this.bestSlot(from);
        const toHead = to?.held[0];
        if (!to || (toHead && (toHead.started === null || now - toHead.started >= LONG_TASK_MS))) break;
        if (this.takeBack(from, a)) this.assign(to, a);
      }
    }
    if (recheckIn < Infinity && !this.recheck) {
      this.recheck = setTimeout(() => {
        this.recheck = null;
        this.roomMade();
      }, Math.ceil(recheckIn));
      this.recheck.unref();
    }
  }

  private recheck: NodeJS.Timeout | null = null;

  /** The child with the most room (the emptiest), other than `not`. */
  private bestSlot(not: ChildSlot | null): ChildSlot | null {
    let best: ChildSlot | null = null;
    for (const s of this.slots) if (s !== not && this.room(s) > 0 && (!best || s.held.length < best.held.length)) best = s;
    return best;
  }

  private assign(slot: ChildSlot, a: Assigned): void {
    slot.hold(a, this.claims!);
    this.startHead(slot);
    if (!this.flushing) {
      this.flushing = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends each child what it got this turn, in one message. */
  private flush(): void {
    this.flushing = false;
    for (const slot of this.slots) slot.send((a, err) => this.handOffFailed(slot, a, err));
  }

  /** Nothing reached the child: its place is free again, and the task fails (it would fail the same way every time it was delivered). */
  private handOffFailed(slot: ChildSlot, a: Assigned, err: Error): void {
    const req = a.job.request;
    const exc = new HandOffError(`task ${req.task}[${req.id}] cannot be handed to a pool child: ${err.message}`);
    this.opts.log.error(logSafe(exc.message));
    slot.remove(a);
    slot.tasksAssigned--;
    this.finish(a, { kind: "failure", exc: serializeError(exc), traceback: null, runtime: 0 });
    this.startHead(slot);
    this.roomMade();
  }

  run(job: PoolJob): Promise<PoolOutcome> {
    const slot = this.bestSlot(null);
    if (!slot) return Promise.reject(new Error("no idle pool child"));
    return new Promise<PoolOutcome>((resolve) => {
      this.assign(slot, { seq: this.seq++, job, resolve, claim: null, started: null, timer: null });
    });
  }

  terminate(taskId: string): boolean {
    for (const slot of this.slots) {
      const a = slot.held.find((h) => h.job.request.id === taskId);
      if (!a) continue;
      const err = new TaskRevokedError("terminated");
      const failure: PoolOutcome = { kind: "failure", exc: serializeError(err), traceback: null, runtime: this.runtimeOf(a) };
      // Not started yet: taken back and failed, the child goes on; else the child is killed with it.
      if (a !== slot.held[0] && this.takeBack(slot, a)) {
        this.finish(a, failure);
        this.roomMade();
        return true;
      }
      slot.remove(a);
      this.finish(a, failure);
      this.retire(slot, true);
      return true;
    }
    return false;
  }

  withdraw(taskId: string): boolean {
    for (const slot of this.slots) {
      const a = slot.held.find((h) => h.job.request.id === taskId);
      if (!a || a === slot.held[0] || !this.takeBack(slot, a)) continue;
      this.finish(a, { kind: "revoked", why: "revoked" });
      this.roomMade();
      return true;
    }
    return false;
  }

  async close(graceful: boolean): Promise<void> {
    this.closing = true;
    if (graceful) {
      while (this.homeless.length || [...this.slots].some((s) => s.held.length)) await new Promise((r) => setTimeout(r, 10));
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
    if (this.recheck) clearTimeout(this.recheck);
    this.claims?.remove();
  }
}
