// Calling link_error errbacks the way Celery does (backends/base.py
// _call_task_errbacks): an errback whose task is registered here and takes
// more than one parameter is "new style" and is called in this process with
// (request, error, traceback); any other errback is sent as a task with the
// failed task's id as its only argument ("old style", which also reaches
// errbacks registered only on other workers, Python ones included).
import type { Celeriac } from "../app.js";
import { deserializeError, type ExceptionInfo } from "../errors.js";
import type { SignatureDict } from "../protocol/message.js";
import { Signature, type ResultHandle } from "./signature.js";

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
  const sends: Promise<void>[] = [];
  for (const eb of errbacks) {
    const sig = Signature.fromDict(app, eb);
    const task = sig.subtaskType ? undefined : app.tasks.get(sig.task);
    if (task && task.fn.length > 1) {
      try {
        await (task.call as (...args: unknown[]) => Promise<unknown>).call(task, request, deserializeError(exc, traceback), traceback);
      } catch (err) {
        app.log.error(`errback ${sig.task} for ${request.task}[${request.id}] raised: ${(err as Error).message}`);
      }
      continue;
    }
    sends.push((sig.applyAsync([request.id], { parentId: request.id, rootId: request.rootId }) as ResultHandle).sent);
  }
  await Promise.all(sends);
}
