// The async pool: tasks run as promises in the worker's own event loop (the
// gevent/eventlet equivalent, for I/O-bound work). A hard time limit fails the
// task at once and aborts its signal, but cannot stop code that ignores it.
//
// A task's stray error (a throw from its timer, a rejection nobody handles)
// would kill the worker and every task in it: it fails that task instead,
// found by the AsyncLocalStorage the executor runs it in (currentTask).
import { currentTask, type Celeriac } from "../../app.js";
import { TaskRevokedError, TimeLimitExceeded, serializeError } from "../../errors.js";
import { executeTask, type Outcome } from "../executor.js";
import type { Pool, PoolJob, PoolOutcome } from "../pool.js";
import { logSafe } from "../../log.js";
import { setLongTimeout } from "../../util/long-timer.js";

/** The async pools of this process: stray errors are looked up in each. */
const pools = new Set<AsyncPool>();

const messageOf = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

function onStrayError(err: unknown, what: string): void {
  const request = currentTask.getStore()?.request;
  for (const pool of pools) if (request && pool.failRunning(request.id, err, what)) return;
  const where = request ? `task ${logSafe(request.task)}[${logSafe(request.id)}], which is not running any more` : "no task";
  const log = [...pools][0]?.log;
  const line = `${what} from ${where}: ${logSafe(messageOf(err), 500)}; the worker goes on`;
  if (log) log.error({ err }, line);
  else console.error(line, err);
}
const onUncaught = (err: unknown) => onStrayError(err, "uncaught exception");
const onUnhandled = (reason: unknown) => onStrayError(reason, "unhandled rejection");

function watchStrayErrors(pool: AsyncPool, on: boolean): void {
  const had = pools.size > 0;
  if (on) pools.add(pool);
  else pools.delete(pool);
  if (!had && pools.size) {
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUnhandled);
  } else if (had && !pools.size) {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUnhandled);
  }
}

export class AsyncPool implements Pool {
  readonly kind = "async" as const;
  private readonly running = new Map<string, { name: string; abort: () => AbortController; finish: (o: PoolOutcome) => void; started: number }>();

  constructor(
    private readonly app: Celeriac,
    public size: number,
  ) {}

  async resize(size: number): Promise<number> {
    this.size = size;
    return size;
  }

  get log() {
    return this.app.log;
  }

  async start(): Promise<void> {
    watchStrayErrors(this, true);
  }

  /** Fails a running task with its stray error; false when it is not running here. */
  failRunning(taskId: string, err: unknown, what: string): boolean {
    const r = this.running.get(taskId);
    if (!r) return false;
    this.log.error(
      { err },
      `task ${logSafe(r.name)}[${logSafe(taskId)}]: ${what} in its code: ${logSafe(messageOf(err), 500)}; the task fails, the worker goes on`,
    );
    r.abort().abort(err);
    r.finish({ kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - r.started) / 1000 });
    return true;
  }

  idle(): number {
    return this.size - this.running.size;
  }

  /** Tasks run in the worker's own process. */
  processes(): number[] {
    return [process.pid];
  }

  run(job: PoolJob): PoolOutcome | Promise<PoolOutcome> {
    // Made only when a task listens to its signal, or is stopped (see executeTask).
    let controller: AbortController | null = null;
    const abort = () => (controller ??= new AbortController());
    const control = {
      get signal() {
        return abort().signal;
      },
      report: job.report,
    };
    const started = performance.now();
    let running: Outcome | Promise<Outcome>;
    try {
      running = executeTask(this.app, job.request, control);
    } catch (err) {
      running = Promise.reject(err);
    }
    // Finished already (a synchronous task): nothing to track or time out.
    if (!(running instanceof Promise)) return running;
    const id = job.request.id;
    return new Promise<PoolOutcome>((resolve) => {
      let settled = false;
      const finish = (o: PoolOutcome) => {
        if (settled) return;
        settled = true;
        timer?.clear();
        this.running.delete(id);
        resolve(o);
      };
      const timer = job.hardTimeLimit
        ? setLongTimeout(() => {
            const err = new TimeLimitExceeded(`hard time limit (${job.hardTimeLimit}s) exceeded`);
            abort().abort(err);
            finish({ kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - started) / 1000 });
          }, job.hardTimeLimit * 1000)
        : null;
      this.running.set(id, { name: job.request.task, abort, finish, started });
      running.then(finish, (err: unknown) =>
        finish({ kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - started) / 1000 }),
      );
    });
  }

  terminate(taskId: string): boolean {
    const r = this.running.get(taskId);
    if (!r) return false;
    const err = new TaskRevokedError("terminated");
    r.abort().abort(err);
    r.finish({ kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - r.started) / 1000 });
    return true;
  }

  async close(graceful: boolean): Promise<void> {
    if (!graceful) for (const id of [...this.running.keys()]) this.terminate(id);
    while (this.running.size) await new Promise((r) => setTimeout(r, 10));
    watchStrayErrors(this, false);
  }
}
