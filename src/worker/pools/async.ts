// The async pool: tasks run as promises in the worker's own event loop (the
// gevent/eventlet equivalent, for I/O-bound work). A hard time limit fails the
// task at once and aborts its signal, but cannot stop code that ignores it.
import type { Celeriac } from "../../app.js";
import { TaskRevokedError, TimeLimitExceeded, serializeError } from "../../errors.js";
import { executeTask, type Outcome } from "../executor.js";
import type { Pool, PoolJob, PoolOutcome } from "../pool.js";

export class AsyncPool implements Pool {
  readonly kind = "async" as const;
  private readonly running = new Map<string, { abort: () => AbortController; finish: (o: PoolOutcome) => void; started: number }>();

  constructor(private readonly app: Celeriac, public size: number) {}

  async resize(size: number): Promise<number> {
    this.size = size;
    return size;
  }

  async start(): Promise<void> {}

  idle(): number {
    return this.size - this.running.size;
  }

  run(job: PoolJob): PoolOutcome | Promise<PoolOutcome> {
    // Made only when a task listens to its signal, or is stopped (see executeTask).
    let controller: AbortController | null = null;
    const abort = () => (controller ??= new AbortController());
    const control = {
      get signal() {
        return abort().signal;
      },
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
        if (timer) clearTimeout(timer);
        this.running.delete(id);
        resolve(o);
      };
      const timer = job.hardTimeLimit
        ? setTimeout(() => {
            const err = new TimeLimitExceeded(`hard time limit (${job.hardTimeLimit}s) exceeded`);
            abort().abort(err);
            finish({ kind: "failure", exc: serializeError(err), traceback: null, runtime: (performance.now() - started) / 1000 });
          }, job.hardTimeLimit * 1000)
        : null;
      this.running.set(id, { abort, finish, started });
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
  }
}
