// The Pool interface: where task functions run. The worker hands a pool one
// request at a time per free slot and gets back an Outcome.
import type { TaskRequest } from "../task.js";
import type { Outcome } from "./executor.js";
import type { Reporter } from "./task-report.js";

/** What the pool says when the process or thread running a task died under it. */
export type PoolOutcome =
  | Outcome
  | { kind: "lost"; reason: string; runtime: number }
  /**
   * Not run: it expired while it waited in a child's window (the child checks again before it
   * starts a task, as Celery does), or was revoked there and taken back (Pool.withdraw).
   */
  | { kind: "revoked"; why: "expired" | "revoked" };

export interface PoolJob {
  request: TaskRequest;
  /** Hard time limit in seconds: past it the task is stopped (the child killed) and fails. */
  hardTimeLimit: number | null;
  /** Where the task's state updates go while it runs (the worker stores them); pools pass it to executeTask. */
  report?: Reporter;
  /** Called when the task starts, for a pool that may hold it first (startsLater): an early ack goes then. */
  onStart?: () => void;
}

export interface Pool {
  readonly kind: "process" | "thread" | "async";
  /** How many tasks may run at once. */
  readonly size: number;
  /** Set when run() may hold a task before it starts (a pool child's window): the pool calls job.onStart then. */
  readonly startsLater?: boolean;
  /** Grows or shrinks the pool (remote control pool_grow/pool_shrink); returns the new size. */
  resize(size: number): Promise<number>;
  /**
   * Replaces every child (remote control pool_restart), so they load the app
   * afresh; returns how many. Pools without children (async) leave it out.
   */
  restart?(): number;
  start(): Promise<void>;
  /** Free slots right now. */
  idle(): number;
  /** The pids (thread ids for threads) tasks run in, for inspect stats (Celery's pool.processes). */
  processes?(): number[];
  /** A pool may answer at once (the async pool, for a task that finished synchronously). */
  run(job: PoolJob): PoolOutcome | Promise<PoolOutcome>;
  /** Stops a running task (revoke with terminate). Returns false when it is not running here. */
  terminate(taskId: string): boolean;
  /**
   * A task revoked while it waits to start in the pool (a child's window): taken back and
   * answered as revoked, not run. False when it has started (or may have) or is not here.
   */
  withdraw?(taskId: string): boolean;
  /** Waits for running tasks (graceful) or kills them, then stops. */
  close(graceful: boolean): Promise<void>;
}
