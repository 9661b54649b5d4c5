// The meta stored per task, built the way Celery's backends/base.py
// _get_result_meta (plus the task_id its _store_result adds) builds it, so a
// Python client reads ours as its own: the same keys, in the same order.
import type { ResultMeta } from "./backend.js";
import { READY_STATES } from "../states.js";

/** With resultExtended: what the task was and where it ran. */
export interface ExtendedMeta {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  worker: string;
  retries: number;
  queue: string;
}

export interface ResultMetaFields {
  taskId: string;
  status: string;
  result: unknown;
  traceback?: string | null;
  /** The results of the tasks it started, as Celery's result tuples (Celery's request.children). */
  children?: readonly unknown[];
  /** Left out when empty, as Celery does. */
  groupId?: string | null;
  parentId?: string | null;
  /** Given only when resultExtended is on. */
  extended?: ExtendedMeta | null;
}

/**
 * Celery writes date_done as a naive UTC isoformat with six fraction digits:
 * Celery's own parser (utils/iso8601) reads the fraction as microseconds, so
 * three digits would come back a thousand times too small.
 */
export function dateDone(now: Date = new Date()): string {
  return now.toISOString().replace("Z", "000");
}

/** The meta of one task state; date_done only once the task is ready (STARTED, RETRY and custom states have none). */
export function resultMeta(f: ResultMetaFields): ResultMeta {
  return {
    status: f.status,
    result: f.result,
    traceback: f.traceback ?? null,
    children: f.children ? [...f.children] : [],
    date_done: READY_STATES.has(f.status) ? dateDone() : null,
    ...(f.groupId ? { group_id: f.groupId } : {}),
    ...(f.parentId ? { parent_id: f.parentId } : {}),
    ...f.extended,
    task_id: f.taskId,
  };
}

/** A stored meta's JSON, or null for none or one that does not parse (written by something else). */
export function parseMeta(text: string | null | undefined): ResultMeta | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as ResultMeta;
  } catch {
    return null;
  }
}
