// Runs one task call and says how it ended. Every pool uses this, in whatever
// process or thread it runs tasks: the pool only decides where, not how.
//
// The outcome is plain data (errors serialized), so it can cross a process or
// thread boundary unchanged.
import type { Celeriac } from "../app.js";
import { currentTask } from "../app.js";
import {
  Ignore,
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

export type Outcome =
  | { kind: "success"; value: unknown; runtime: number }
  | { kind: "failure"; exc: ExceptionInfo; traceback: string | null; runtime: number }
  | { kind: "retry"; countdown: number; exc: ExceptionInfo | null; traceback: string | null; runtime: number }
  | { kind: "reject"; requeue: boolean; reason: string; runtime: number }
  | { kind: "ignore"; runtime: number };

export interface ExecuteControl {
  /** Aborting it asks the task to stop (terminate, shutdown). */
  signal?: AbortSignal;
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

export async function executeTask(app: Celeriac, req: TaskRequest, control: ExecuteControl = {}): Promise<Outcome> {
  const started = performance.now();
  const runtime = () => (performance.now() - started) / 1000;
  const task = app.tasks.get(req.task);
  if (!task) {
    const err = new TaskNotRegistered(`task ${JSON.stringify(req.task)} is not registered in this worker`);
    return { kind: "failure", exc: serializeError(err), traceback: tracebackOf(err), runtime: 0 };
  }
  // The task's AbortController is made when first needed (the task reads this.signal,
  // or a soft limit is set): most tasks never look, and making one (and listening on
  // the pool's) costs several µs per task, a large part of a short task's overhead.
  let abort: AbortController | null = null;
  const onOuterAbort = () => abort!.abort(control.signal?.reason);
  const controller = (): AbortController => {
    if (!abort) {
      abort = new AbortController();
      const outer = control.signal;
      if (outer?.aborted) abort.abort(outer.reason);
      else outer?.addEventListener("abort", onOuterAbort, { once: true });
    }
    return abort;
  };
  const soft = req.timeLimit[1] ?? task.options.softTimeLimit ?? app.settings.taskSoftTimeLimit;
  const softTimer = soft
    ? setTimeout(() => controller().abort(new SoftTimeLimitExceeded(`soft time limit (${soft}s) exceeded`)), soft * 1000)
    : null;

  const ctx: TaskContext = {
    name: task.name,
    request: req,
    get signal() {
      return controller().signal;
    },
    retry(opts: RetryOptions = {}): never {
      throw new Retry(`retry in ${opts.countdown ?? "default delay"}`, opts);
    },
  };
  const hooks = task.options;
  const callArgs = Object.keys(req.kwargs).length ? [...req.args, req.kwargs] : req.args;
  try {
    // A task that ignores its abort signal still ends at its soft limit, so a
    // plain async function cannot hang past it. The hard limit belongs to the pool.
    // Signals cost nothing when no one listens: the payloads are built only for listeners.
    if (app.listenerCount("taskPrerun")) app.emit("taskPrerun", { taskId: req.id, task: req.task, args: req.args, kwargs: req.kwargs });
    const run = Promise.resolve().then(() => currentTask.run(ctx, () => task.fn.apply(ctx, callArgs)));
    const value = await (soft ? raceAbort(run, controller().signal) : run);
    await hooks.onSuccess?.call(ctx, value, req.id, req.args, req.kwargs);
    await hooks.afterReturn?.call(ctx, States.SUCCESS, value, req.id, req.args, req.kwargs);
    if (app.listenerCount("taskSuccess")) app.emit("taskSuccess", { taskId: req.id, task: req.task, result: value });
    if (app.listenerCount("taskPostrun")) app.emit("taskPostrun", { taskId: req.id, task: req.task, state: States.SUCCESS, retval: value });
    return { kind: "success", value, runtime: runtime() };
  } catch (thrown) {
    const outcome = await handleError(app, task, ctx, thrown, runtime);
    const state = outcome.kind === "retry" ? States.RETRY : outcome.kind === "failure" ? States.FAILURE : outcome.kind.toUpperCase();
    app.emit("taskPostrun", { taskId: req.id, task: req.task, state, retval: thrown });
    return outcome;
  } finally {
    if (softTimer) clearTimeout(softTimer);
    if (abort) control.signal?.removeEventListener("abort", onOuterAbort);
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function handleError(app: Celeriac, task: Task, ctx: TaskContext, thrown: unknown, runtime: () => number): Promise<Outcome> {
  const req = ctx.request;
  const hooks = task.options;
  if (thrown instanceof Ignore) return { kind: "ignore", runtime: runtime() };
  if (thrown instanceof Reject) return { kind: "reject", requeue: thrown.requeue, reason: thrown.message, runtime: runtime() };

  let retry: Retry | null = thrown instanceof Retry ? thrown : null;
  if (!retry && task.options.autoretryFor?.some((cls) => thrown instanceof cls)) {
    retry = new Retry(`autoretry for ${(thrown as Error).name}`, { exc: thrown });
  }
  if (retry) {
    const maxRetries = retry.maxRetries !== undefined ? retry.maxRetries : task.options.maxRetries !== undefined ? task.options.maxRetries : app.settings.taskMaxRetries;
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
    thrown =
      cause ??
      new MaxRetriesExceededError(`can't retry ${task.name}[${req.id}]: max retries (${maxRetries}) exceeded`);
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
