// Calling link_error errbacks the way Celery does (backends/base.py
// _call_task_errbacks): an errback whose task is registered here and takes
// more than one parameter is "new style" and is called in this process with
// (request, error, traceback) followed by the signature's own arguments; any other errback is sent as a task with the
// failed task's id as its only argument ("old style", which also reaches
// errbacks registered only on other workers, Python ones included); the
// old-style ones are sent together as one group, as Celery does.
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
    if (task && task.fn.length > 1) {
      try {
        // Celery calls the signature: its own args follow (request, exc, traceback), its kwargs as the trailing object.
        const own = Object.keys(sig.kwargs).length ? [...sig.args, sig.kwargs] : sig.args;
        await (task.call as (...args: unknown[]) => Promise<unknown>).call(task, request, deserializeError(exc, traceback), traceback, ...own);
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
