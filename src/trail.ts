// Celery's request.children (Task.add_trail): the results of the tasks a task
// started while it ran — what it sent itself, then its callbacks and the next
// step of its chain — stored in its result meta as `children`, which Python's
// AsyncResult.children and collect() read. A group adds its GroupResult, not
// its members (Celery's group.apply_async sends them add_to_parent=False); a
// chain its first step; a chord its header's GroupResult.
//
// Sends from the task function find the list on the running task's context
// (currentTask); the worker, continuing a finished task's workflow outside
// that context, collects them with collectingTrail.
import { AsyncLocalStorage } from "node:async_hooks";
import type { ResultTuple } from "./result.js";
import type { TaskContext } from "./task.js";

/** The task running in this async context, so tasks sent from it get parent/root ids and join its children. */
export const currentTask = new AsyncLocalStorage<TaskContext>();

const continuing = new AsyncLocalStorage<ResultTuple[]>();

/** Runs `fn` so that what it sends is recorded in `trail` (the worker's side of a finished task). */
export function collectingTrail<T>(trail: ResultTuple[], fn: () => T): T {
  return continuing.run(trail, fn);
}

/** The children of the task running (or being continued) here, if any. */
export function currentTrail(): ResultTuple[] | undefined {
  return continuing.getStore() ?? currentTask.getStore()?.children;
}

/** Records a result as a child of the task running here, unless `addToParent` is false (Celery's add_to_parent). */
export function addToTrail(result: { asTuple(): ResultTuple }, addToParent: boolean | undefined): void {
  if (addToParent === false) return;
  currentTrail()?.push(result.asTuple());
}
