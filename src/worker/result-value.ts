// What a task's return value is stored as. Celery stores a returned
// Signature as its dict (a Signature is a dict) and a returned AsyncResult or
// GroupResult as its as_tuple() (backends/base.py prepare_value), so Python
// reads the same result from either worker. Done where the task runs, so the
// value crosses from a pool child to the worker as plain data.
import { GroupResult } from "../canvas/group-result.js";
import { Signature } from "../canvas/signature.js";
import { AsyncResult } from "../result.js";

export function storedValueOf(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Signature) return value.toDict();
  if (value instanceof AsyncResult || value instanceof GroupResult) return value.asTuple();
  return value;
}
