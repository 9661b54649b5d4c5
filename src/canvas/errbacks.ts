// Calling link_error errbacks the way Celery does (backends/base.py
// _call_task_errbacks): an errback whose task is registered here, is not
// bound (`bind: true`: Celery's bound tasks have a partial `__header__`, so
// they go the old way, which lets them retry) and takes more than one
// parameter is "new style" and is called in this process as Celery calls the
// signature: (request, error, traceback) then the signature's own args, or only
// its own args when it is immutable. Any other errback is sent as a task with
// the failed task's id prepended to its args (none when immutable: "old
// style", which also reaches errbacks registered only on other workers,
// Python ones included); the old-style ones are sent together as one group,
// as Celery does.
import type { Celeriac } from "../app.js";
import { deserializeError, type ExceptionInfo } from "../errors.js";
import type { SignatureDict } from "../protocol/message.js";
import { Group } from "./group.js";
import { Signature, type AnySignature } from "./signature.js";

/** What a new-style errback receives as `request`: the failed call, as far as the message tells. */
export interface FailedRequest {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  rootId: string;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  retries: number;
}

export async function runErrbacks(
  app: Celeriac,
  errbacks: readonly SignatureDict[],
  request: FailedRequest,
  exc: ExceptionInfo,
  traceback: string | null,
): Promise<void> {
  const oldStyle: AnySignature[] = [];
  for (const eb of errbacks) {
    const sig = Signature.fromDict(app, eb);
    const task = sig.subtaskType ? undefined : app.tasks.get(sig.task);
    if (task && !task.options.bind && task.fn.length > 1) {
      try {
        // Celery's Signature.__call__ merges: (request, exc, traceback) before its own args unless immutable; kwargs as the trailing object.
        const own = Object.keys(sig.kwargs).length ? [...sig.args, sig.kwargs] : sig.args;
        const args = sig.immutable ? own : [request, deserializeError(exc, traceback), traceback, ...own];
        await (task.call as (...args: unknown[]) => Promise<unknown>).call(task, ...args);
      } catch (err) {
        app.log.error(`errback ${sig.task} for ${request.task}[${request.id}] raised: ${(err as Error).message}`);
      }
      continue;
    }
    oldStyle.push(sig);
  }
  // As one group, as Celery does (so the group is what the task's children name).
  if (oldStyle.length) await new Group(app, oldStyle).applyAsync([request.id], { parentId: request.id, rootId: request.rootId }).sent;
}
