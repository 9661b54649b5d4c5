// The Pool interface: where task functions run. The worker hands a pool one
// request at a time per free slot and gets back an Outcome.
import type { TaskRequest } from "../task.js";
import type { Outcome } from "./executor.js";

/** What the pool says when the process or thread running a task died under it. */
export type PoolOutcome = Outcome | { kind: "lost"; reason: string; runtime: number };

export interface PoolJob {
  request: TaskRequest;
  /** Hard time limit in seconds: past it the task is stopped (the child killed) and fails. */
  hardTimeLimit: number | null;
}

export interface Pool {
  readonly kind: "process" | "thread" | "async";
  /** How many tasks may run at once. */
  readonly size: number;
  /** Grows or shrinks the pool (remote control pool_grow/pool_shrink); returns the new size. */
  resize(size: number): Promise<number>;
  start(): Promise<void>;
  /** Free slots right now. */
  idle(): number;
  /** A pool may answer at once (the async pool, for a task that finished synchronously). */
  run(job: PoolJob): PoolOutcome | Promise<PoolOutcome>;
  /** Stops a running task (revoke with terminate). Returns false when it is not running here. */
  terminate(taskId: string): boolean;
  /** Waits for running tasks (graceful) or kills them, then stops. */
  close(graceful: boolean): Promise<void>;
}
