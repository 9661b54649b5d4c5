// Between the consumer and the pool: jobs that passed their checks wait here
// (reserved) until the pool has a free slot and their task's rate limit a
// token; then they run (active), and once the acker has recorded what came
// of them, their slot is free for the next.
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import { logSafe, type Logger } from "../log.js";
import { States } from "../states.js";
import type { Acker } from "./acker.js";
import { nameOf, type Job, type TaskCounts } from "./job.js";
import type { Pool, PoolOutcome } from "./pool.js";
import { RateGate } from "./rate-gate.js";
import type { ResultWriter } from "./results.js";
import type { RevokedSet } from "./revoked.js";
import type { TaskEvents } from "./task-events.js";
import type { TaskReport } from "./task-report.js";

/** What the dispatcher needs of the worker. */
export interface DispatcherHost {
  readonly app: Celeriac;
  readonly hostname: string;
  readonly results: ResultWriter;
  readonly acker: Acker;
  readonly revoked: RevokedSet;
  readonly counts: TaskCounts;
  readonly log: Logger;
  /** The worker-wide hard time limit (seconds), for tasks without their own. */
  readonly timeLimit: number | null;
  readonly disableRateLimits: boolean;
  broker(): Broker;
  events(): TaskEvents | null;
  /** A job left: there is room in the prefetch window again. */
  roomFreed(): void;
}

export class Dispatcher {
  /** Jobs waiting for a slot, in arrival order. */
  readonly reserved: Job[] = [];
  /** Jobs in the pool, by task id. */
  readonly active = new Map<string, Job>();
  /** Time limits set by remote control (time_limit), by task name. */
  readonly timeLimits = new Map<string, { soft: number | null; hard: number | null }>();
  /** Tasks finished, by name (inspect stats' total). */
  readonly processedByName = new Map<string, number>();
  readonly rateGate: RateGate<Job>;
  private pool!: Pool;
  /** Set while dispatch() runs: a task that ends inside it (synchronously) frees a slot dispatch is already looking at. */
  private dispatching = false;
  private stopped = false;
  private drainedWaiters: (() => void)[] = [];

  constructor(private readonly host: DispatcherHost) {
    this.rateGate = new RateGate<Job>(host.app.settings, host.disableRateLimits, host.log, {
      broker: () => host.broker(),
      start: (job) => this.start(job),
      // Once stopped, the reserved jobs have been given back already: this one goes back too.
      putBack: (job) =>
        this.stopped
          ? void host
              .broker()
              .reject(job.delivery, true)
              .catch(() => {})
          : this.reserved.unshift(job),
      pump: () => this.dispatch(),
    });
  }

  /** The pool jobs run in, once the worker has started it. */
  usePool(pool: Pool): void {
    this.pool = pool;
  }

  /** Jobs this worker holds (reserved and active): they count against the prefetch window. */
  get held(): number {
    return this.reserved.length + this.active.size;
  }

  reserve(job: Job): void {
    this.reserved.push(job);
  }

  /**
   * Starts reserved jobs while the pool has room. A rate-limited job whose
   * bucket is empty waits in place; the jobs behind it are not held back.
   * A job revoked or expired while it waited is settled instead.
   */
  dispatch(): void {
    if (this.dispatching || !this.pool || (this.stopped && this.reserved.length === 0)) return;
    this.dispatching = true;
    try {
      let wait = Infinity;
      for (let i = 0; i < this.reserved.length && this.pool.idle() - this.rateGate.slotsHeld > 0;) {
        const job = this.reserved[i]!;
        // Revoked or expired while it waited for a slot: settled, not run (Celery checks both again before running).
        const notRun = this.host.revoked.has(job.request.id) ? "revoked" : job.expiresAt !== null && job.expiresAt <= Date.now() ? "expired" : null;
        if (notRun) {
          this.reserved.splice(i, 1);
          void this.settleNotRun(job, notRun);
          continue;
        }
        const due = this.rateGate.takeLocalToken(job.task);
        if (due > 0) {
          wait = Math.min(wait, due);
          i++;
          continue;
        }
        this.reserved.splice(i, 1);
        if (this.rateGate.needsGlobalToken(job.task)) void this.rateGate.passGlobalLimit(job);
        else this.start(job);
      }
      this.rateGate.retryIn(wait);
    } finally {
      this.dispatching = false;
    }
  }

  private async settleNotRun(job: Job, why: "revoked" | "expired"): Promise<void> {
    await this.host.acker
      .record(job, { kind: "revoked", why })
      ?.catch((err: Error) => this.host.log.error(`task ${nameOf(job)}: cannot settle: ${err.message}`));
    this.host.roomFreed();
  }

  /** Runs a job: early ack, STARTED where tracked, then the pool. */
  private start(job: Job): void {
    const { request, task } = job;
    job.timeStart = Date.now() / 1000;
    this.active.set(request.id, job);
    this.host.events()?.started(request.id);
    // Early ack: just before the task runs (Celery's task_acks_late = False); a pool
    // that holds tasks ahead in its children says when (onStart), so a worker killed
    // meanwhile leaves them leased and they run again.
    if (!job.acksLate && !this.pool.startsLater) void this.host.acker.ack(job);
    if (task.options.trackStarted ?? this.host.app.settings.taskTrackStarted) {
      // STARTED is advisory: a backend that cannot take it does not stop the task.
      this.host.results
        .store(job.msg, job.delivery.queue, States.STARTED, { pid: process.pid, hostname: this.host.hostname }, null)
        .catch((err: Error) => this.host.log.warn(`task ${nameOf(job)}: cannot record STARTED: ${err.message}`))
        .then(() => this.runInPool(job));
      return;
    }
    this.runInPool(job);
  }

  private runInPool(job: Job): void {
    const { request, task } = job;
    const override = this.timeLimits.get(task.name);
    if (override?.soft && request.timeLimit[1] === null) request.timeLimit = [request.timeLimit[0], override.soft];
    const hard = request.timeLimit[0] ?? override?.hard ?? task.options.timeLimit ?? this.host.app.settings.taskTimeLimit ?? this.host.timeLimit;
    this.host.broker().flushLeases?.(job.acked ? job.delivery : null);
    let outcome: PoolOutcome | Promise<PoolOutcome>;
    try {
      const onStart = !job.acksLate && this.pool.startsLater ? () => void this.host.acker.ack(job) : undefined;
      outcome = this.pool.run({ request, hardTimeLimit: hard, onStart, report: (r) => this.report(job, r) });
    } catch (err) {
      outcome = { kind: "lost", reason: (err as Error).message, runtime: 0 };
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (o) => this.finished(job, this.host.acker.record(job, o)),
        (err: Error) => this.finished(job, this.host.acker.record(job, { kind: "lost", reason: err.message, runtime: 0 })),
      );
    } else {
      this.finished(job, this.host.acker.record(job, outcome));
    }
  }

  /** Stores a running task's state update (Celery's update_state); a failure is logged and is the task's to see. */
  private report(job: Job, r: TaskReport): Promise<void> {
    const { results } = this.host;
    const stored = r.type === "state" ? results.storeState(job.msg, job.delivery.queue, r.taskId, r.state, r.meta) : results.storeLog(r.taskId, r.lines);
    return stored.catch((err: Error) => {
      this.host.log.warn(`task ${nameOf(job)}: cannot record ${r.type === "state" ? `state ${logSafe(r.state)}` : "its log lines"}: ${err.message}`);
      throw err;
    });
  }

  /** Once the outcome is recorded (`recording`, or at once when there was nothing to wait for): the slot is free. */
  private finished(job: Job, recording: Promise<void> | undefined): void {
    if (recording) {
      recording.then(
        () => this.finished(job, undefined),
        (err: Error) => {
          this.host.log.error(`task ${nameOf(job)}: cannot record its outcome: ${err.message}`);
          this.finished(job, undefined);
        },
      );
      return;
    }
    this.active.delete(job.request.id);
    this.host.counts.processed++;
    this.processedByName.set(job.request.task, (this.processedByName.get(job.request.task) ?? 0) + 1);
    this.dispatch();
    this.host.roomFreed();
    if (this.active.size === 0) for (const resolve of this.drainedWaiters.splice(0)) resolve();
  }

  /** No job starts from here on; returns the reserved ones, for the worker to give back. */
  stop(): Job[] {
    this.stopped = true;
    this.rateGate.stop();
    return this.reserved.splice(0);
  }

  /** Resolves once no job is running. */
  drained(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }
}
