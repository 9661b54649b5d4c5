// Runs one task call and says how it ended. Every pool uses this, in whatever
// process or thread it runs tasks: the pool only decides where, not how.
//
// The outcome is plain data (errors serialized), so it can cross a process or
// thread boundary unchanged.
import type { Celeriac } from "../app.js";
import { currentTask } from "../trail.js";
import type { ResultTuple } from "../result.js";
import {
  Ignore,
  InvalidStateUpdate,
  Replaced,
  MaxRetriesExceededError,
  Reject,
  Retry,
  SoftTimeLimitExceeded,
  TaskNotRegistered,
  serializeError,
  tracebackOf,
  type ExceptionInfo,
} from "../errors.js";
import type { RetryOptions, Task, TaskContext, TaskRequest } from "../task.js";
import { States } from "../states.js";
import { setLongTimeout, type LongTimeout } from "../util/long-timer.js";
import { replacementFor } from "../canvas/replace.js";
import type { AnySignature, ResultHandle, Signature } from "../canvas/signature.js";
import { addToChord, type AddToChordOptions } from "../canvas/add-to-chord.js";
import { callArguments } from "./call-arguments.js";
import { storedValueOf } from "./result-value.js";
import { progressMeta, stateReport, type Reporter, type StateUpdate } from "./task-report.js";
import { TaskLog } from "./task-log.js";

/** `children`: what the task sent while it ran (see trail.ts), when it sent anything. */
export type Outcome =
  | { kind: "success"; value: unknown; runtime: number; children?: ResultTuple[] }
  | { kind: "failure"; exc: ExceptionInfo; traceback: string | null; runtime: number; children?: ResultTuple[] }
  | { kind: "retry"; countdown: number; exc: ExceptionInfo | null; traceback: string | null; runtime: number; children?: ResultTuple[] }
  | { kind: "reject"; requeue: boolean; reason: string; runtime: number }
  | { kind: "ignore"; runtime: number };

export interface ExecuteControl {
  /** Aborting it asks the task to stop (terminate, shutdown). */
  signal?: AbortSignal;
  /** Where the task's state updates go (the worker stores them); none: updates are refused. */
  report?: Reporter;
}

/** Celery's exponential backoff: factor * 2^retries, capped, with full jitter when asked. */
export function backoffSeconds(factor: number, retries: number, max: number, jitter: boolean): number {
  const countdown = Math.min(max, factor * 2 ** retries);
  return jitter ? Math.random() * countdown : countdown;
}

function retryCountdown(app: Celeriac, task: Task, req: TaskRequest, explicit: number | undefined, eta: Date | undefined): number {
  if (eta) return Math.max(0, (eta.getTime() - Date.now()) / 1000);
  if (explicit !== undefined) return explicit;
  const o = task.options;
  if (o.retryBackoff) {
    const factor = o.retryBackoff === true ? 1 : o.retryBackoff;
    return backoffSeconds(factor, req.retries, o.retryBackoffMax ?? 600, o.retryJitter ?? true);
  }
  return o.defaultRetryDelay ?? app.settings.taskDefaultRetryDelay;
}

/** Whether a value is a promise or promise-like (a task may return either). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/**
 * One call of a task: its context (`this` in the task function) and what the
 * call holds while it runs. One object per call, methods on the prototype:
 * for a short task, per-call closures were a large part of the cost.
 */
class TaskCall implements TaskContext {
  readonly name: string;
  readonly #started = performance.now();
  // The AbortController is made when first needed (the task reads this.signal, or a
  // soft limit is set): most tasks never look, and making one (and listening on the
  // pool's) costs several µs per task, a large part of a short task's overhead.
  #abort: AbortController | null = null;
  #softTimer: LongTimeout | null = null;
  // Made when the task first sends something: most tasks send nothing.
  #children: ResultTuple[] | null = null;

  readonly #app: Celeriac;
  /** Holds the pool's signal (terminate, shutdown), passed on to the task's; read only when needed (a pool may make it lazily). */
  readonly #control: ExecuteControl;

  constructor(
    readonly request: TaskRequest,
    readonly task: Task,
    app: Celeriac,
    control: ExecuteControl,
  ) {
    this.name = task.name;
    this.#app = app;
    this.#control = control;
  }

  get signal(): AbortSignal {
    this.#listens = true;
    return this.controller().signal;
  }

  /** Whether the task read its signal: it handles its own soft time limit then (see finishAsync). */
  #listens = false;

  retry(opts: RetryOptions = {}): never {
    throw new Retry(`retry in ${opts.countdown ?? "default delay"}`, opts);
  }

  replace(sig: AnySignature): never {
    throw new Replaced(replacementFor(this.#app, this.request, sig));
  }

  addToChord<H>(sig: Signature<unknown, H>, opts?: { lazy?: false }): Promise<H>;
  addToChord<S extends AnySignature>(sig: S, opts: { lazy: true }): Promise<S>;
  addToChord(sig: AnySignature, opts?: AddToChordOptions): Promise<unknown> {
    return addToChord(this.request, sig, opts);
  }

  get children(): ResultTuple[] {
    return (this.#children ??= []);
  }

  /** The children to store with the outcome, if any (a copy: the worker adds its own). */
  sent(): { children?: ResultTuple[] } {
    return this.#children?.length ? { children: [...this.#children] } : {};
  }

  runtime(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** Reports still on their way: the outcome waits for them, so a late PROGRESS never overwrites it. */
  #reports: Set<Promise<void>> | null = null;

  #log: TaskLog | null = null;

  /** The task's logger: lines tagged with its id, printed by the worker and kept with its result. */
  get log(): TaskLog {
    const report = this.#control.report;
    return (this.#log ??= new TaskLog(this.request, this.#app.log, report ? (r) => void this.track(report(r)) : null));
  }

  updateState(update: StateUpdate): Promise<void> {
    let sent: Promise<void>;
    try {
      const report = this.#control.report;
      if (!report) throw new InvalidStateUpdate("updateState() needs a worker to record it: this task runs where no result backend is reachable");
      sent = report(stateReport(this.request.id, update));
    } catch (err) {
      sent = Promise.reject(err);
    }
    return this.track(sent);
  }

  /** Keeps a report until it settles: the outcome waits for it. */
  private track(sent: Promise<void>): Promise<void> {
    const reports = (this.#reports ??= new Set());
    // Watched here, so an update the task does not await cannot crash the worker (the worker logs its failure).
    const tracked = sent.catch(() => {}).finally(() => reports.delete(tracked));
    reports.add(tracked);
    return sent;
  }

  progress(current: number, total: number, extra?: Record<string, unknown>): Promise<void> {
    let meta: Record<string, unknown>;
    try {
      meta = progressMeta(current, total, extra);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.updateState({ state: "PROGRESS", meta });
  }

  /** `outcome` once every report the task made is settled. */
  afterReports(outcome: Outcome | Promise<Outcome>): Outcome | Promise<Outcome> {
    if (!(outcome instanceof Promise)) this.#log?.flush();
    if (!this.#reports?.size && !(outcome instanceof Promise)) return outcome;
    return Promise.resolve(outcome).then(async (o) => {
      this.#log?.flush();
      while (this.#reports?.size) await Promise.all([...this.#reports]);
      return o;
    });
  }

  private controller(): AbortController {
    if (!this.#abort) {
      this.#abort = new AbortController();
      const outer = this.#control.signal;
      if (outer?.aborted) this.#abort.abort(outer.reason);
      else if (outer) {
        this.#onOuterAbort = () => this.#abort!.abort(outer.reason);
        outer.addEventListener("abort", this.#onOuterAbort, { once: true });
      }
    }
    return this.#abort;
  }

  #onOuterAbort: (() => void) | null = null;

  startSoftLimit(seconds: number): void {
    this.#softTimer = setLongTimeout(() => this.controller().abort(new SoftTimeLimitExceeded(`soft time limit (${seconds}s) exceeded`)), seconds * 1000);
  }

  /** Runs the task function in this call's context (so tasks it sends get parent/root ids). */
  call(): unknown {
    const { request: req, task } = this;
    const app = this.#app;
    // Signals cost nothing when no one listens: the payloads are built only for listeners.
    if (app.listenerCount("taskPrerun")) app.emit("taskPrerun", { taskId: req.id, task: req.task, args: req.args, kwargs: req.kwargs });
    const args = task.options.params || hasKeys(req.kwargs) ? callArguments(task, req.args, req.kwargs) : req.args;
    return currentTask.run(this, applyTask, task, this, args);
  }

  /** After the value (awaited when a promise): success hooks, then success. */
  async finishAsync(value: unknown): Promise<Outcome> {
    const hooks = this.task.options;
    const req = this.request;
    // A task that never looks at its signal still ends at its soft limit, so a
    // plain async function cannot hang past it. One that listens handles the
    // limit itself, as a Celery task catching SoftTimeLimitExceeded does: what
    // it returns or throws then is its outcome. The hard limit belongs to the pool.
    const result = this.#softTimer ? await raceAbort(Promise.resolve(value), this.controller().signal, () => !this.#listens) : await value;
    await hooks.onSuccess?.call(this, result, req.id, req.args, req.kwargs);
    await hooks.afterReturn?.call(this, States.SUCCESS, result, req.id, req.args, req.kwargs);
    return this.succeeded(result);
  }

  succeeded(value: unknown): Outcome {
    const app = this.#app;
    const req = this.request;
    if (app.listenerCount("taskSuccess")) app.emit("taskSuccess", { taskId: req.id, task: req.task, result: value });
    if (app.listenerCount("taskPostrun")) app.emit("taskPostrun", { taskId: req.id, task: req.task, state: States.SUCCESS, retval: value });
    this.end();
    return { kind: "success", value: storedValueOf(value), runtime: this.runtime(), ...this.sent() };
  }

  async failed(thrown: unknown): Promise<Outcome> {
    try {
      const outcome = withChildren(await handleError(this.#app, this.task, this, thrown, () => this.runtime()), this.sent());
      const state = outcome.kind === "retry" ? States.RETRY : outcome.kind === "failure" ? States.FAILURE : outcome.kind.toUpperCase();
      this.#app.emit("taskPostrun", { taskId: this.request.id, task: this.request.task, state, retval: thrown });
      return outcome;
    } finally {
      this.end();
    }
  }

  private end(): void {
    this.#softTimer?.clear();
    if (this.#onOuterAbort) this.#control.signal?.removeEventListener("abort", this.#onOuterAbort);
  }
}

function withChildren(outcome: Outcome, sent: { children?: ResultTuple[] }): Outcome {
  return (outcome.kind === "failure" || outcome.kind === "retry") && sent.children ? { ...outcome, ...sent } : outcome;
}

function applyTask(task: Task, ctx: TaskContext, args: unknown[]): unknown {
  return task.fn.apply(ctx, args);
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/**
 * Runs a task. A synchronous task with no success hooks and no soft limit ends
 * here synchronously, with no promise made: for short tasks the promises, not
 * the task, were most of the cost. Anything else returns a promise.
 */
export function executeTask(app: Celeriac, req: TaskRequest, control: ExecuteControl = {}): Outcome | Promise<Outcome> {
  const task = app.tasks.get(req.task);
  if (!task) {
    const err = new TaskNotRegistered(`task ${JSON.stringify(req.task)} is not registered in this worker`);
    return { kind: "failure", exc: serializeError(err), traceback: tracebackOf(err), runtime: 0 };
  }
  const run = new TaskCall(req, task, app, control);
  const soft = req.timeLimit[1] ?? task.options.softTimeLimit ?? app.settings.taskSoftTimeLimit;
  if (soft) run.startSoftLimit(soft);
  let value: unknown;
  try {
    value = run.call();
  } catch (thrown) {
    return run.afterReports(run.failed(thrown));
  }
  if (!soft && !task.options.onSuccess && !task.options.afterReturn && !isThenable(value)) return run.afterReports(run.succeeded(value));
  return run.afterReports(run.finishAsync(value).catch((thrown: unknown) => run.failed(thrown)));
}

/** `p`, or the signal's reason once it aborts, if `ends()` says the abort ends it then. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, ends: () => boolean): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      if (ends()) reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function handleError(app: Celeriac, task: Task, ctx: TaskContext, thrown: unknown, runtime: () => number): Promise<Outcome> {
  const req = ctx.request;
  const hooks = task.options;
  if (thrown instanceof Replaced) {
    const { signature, options } = thrown.replacement;
    await (signature.applyAsync([], options) as ResultHandle).sent;
    return { kind: "ignore", runtime: runtime() };
  }
  if (thrown instanceof Ignore) return { kind: "ignore", runtime: runtime() };
  if (thrown instanceof Reject) return { kind: "reject", requeue: thrown.requeue, reason: thrown.message, runtime: runtime() };

  let retry: Retry | null = thrown instanceof Retry ? thrown : null;
  if (!retry && task.options.autoretryFor?.some((cls) => thrown instanceof cls)) {
    retry = new Retry(`autoretry for ${(thrown as Error).name}`, { exc: thrown });
  }
  if (retry) {
    const maxRetries =
      retry.maxRetries !== undefined ? retry.maxRetries : task.options.maxRetries !== undefined ? task.options.maxRetries : app.settings.taskMaxRetries;
    const cause = retry.exc ?? null;
    if (maxRetries === null || req.retries < maxRetries) {
      const reason = cause instanceof Error ? cause : retry;
      await hooks.onRetry?.call(ctx, reason, req.id, req.args, req.kwargs);
      app.emit("taskRetry", { taskId: req.id, task: req.task, reason });
      return {
        kind: "retry",
        countdown: retryCountdown(app, task, req, retry.countdown, retry.eta),
        exc: serializeError(reason),
        traceback: tracebackOf(reason),
        runtime: runtime(),
      };
    }
    // Out of retries: fail with the original error when there is one, as Celery does.
    thrown = cause ?? new MaxRetriesExceededError(`can't retry ${task.name}[${req.id}]: max retries (${maxRetries}) exceeded`);
  }
  const err = thrown instanceof Error ? thrown : new Error(String(thrown));
  try {
    app.emit("taskFailure", { taskId: req.id, task: req.task, exception: err });
    await hooks.onFailure?.call(ctx, err, req.id, req.args, req.kwargs);
    await hooks.afterReturn?.call(ctx, States.FAILURE, err, req.id, req.args, req.kwargs);
  } catch {
    // A failing hook must not hide the task's own error.
  }
  return { kind: "failure", exc: serializeError(err), traceback: tracebackOf(err), runtime: runtime() };
}
