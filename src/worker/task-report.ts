// What a running task tells its worker before it ends: a state of its own
// (Celery's Task.update_state: "PROGRESS" with its meta) stored in the result
// backend in Celery's format, and the lines it logged (task-log.ts). Plain data, so it crosses from a pool child to
// the worker unchanged; the worker stores it, the task's promise settles when
// it is stored (Celery's update_state returns once the backend has it).
import { InvalidStateUpdate } from "../errors.js";
import { encodeJson } from "../protocol/serializers.js";
import type { TaskLogLine } from "./task-log.js";

/** A state the task gives itself (or, as Celery allows, another task id). */
export interface StateReport {
  type: "state";
  taskId: string;
  state: string;
  meta: unknown;
}

/** Lines the task logged (this.log), to keep with its result. */
export interface LogReport {
  type: "log";
  taskId: string;
  lines: TaskLogLine[];
}

export type TaskReport = StateReport | LogReport;

/** Where a running task's reports go: resolves once recorded, rejects with why not. */
export type Reporter = (report: TaskReport) => Promise<void>;

/** What `this.updateState()` takes: Celery's update_state(task_id=…, state=…, meta=…). */
export interface StateUpdate {
  state: string;
  meta?: unknown;
  /** Another task's id (Celery's task_id argument); default: the running task. */
  taskId?: string;
}

/** The longest state name taken: a state is a label, not a payload. */
const STATE_MAX = 200;

/** The report of an update, or an InvalidStateUpdate saying what is wrong with it. */
export function stateReport(runningId: string, update: StateUpdate): StateReport {
  if (!update || typeof update !== "object") throw new InvalidStateUpdate("updateState() takes { state, meta? }");
  const { state, meta, taskId } = update;
  if (typeof state !== "string" || state.length === 0 || state.length > STATE_MAX) {
    throw new InvalidStateUpdate(`updateState() needs a state name of 1 to ${STATE_MAX} characters, got ${JSON.stringify(state) ?? String(state)}`);
  }
  if (taskId !== undefined && (typeof taskId !== "string" || taskId.length === 0))
    throw new InvalidStateUpdate("updateState(): taskId must be a non-empty string");
  // Encoded once where the task runs, so a meta no backend can store (a BigInt, a cycle)
  // fails with EncodeError in every pool, before it travels.
  encodeJson(meta ?? null);
  return { type: "state", taskId: taskId ?? runningId, state, meta: meta ?? null };
}

/** The meta `this.progress(current, total)` stores under the PROGRESS state. */
export function progressMeta(current: number, total: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  if (!Number.isFinite(current) || !Number.isFinite(total) || total < 0 || current < 0) {
    throw new InvalidStateUpdate(`progress(current, total) needs finite numbers >= 0, got (${String(current)}, ${String(total)})`);
  }
  return { ...extra, current, total };
}
