// Task.replace (Celery's app/task.py `replace`): a running task hands its
// place in the workflow to a new signature. The replacement takes over the
// task's id (a chain's last step, a chord's callback), its callbacks and
// errbacks, the rest of its chain and its chord membership; the replaced task
// stores nothing more (Celery raises Ignore). A group is uplifted to a chord
// with `celery.accumulate` as the callback, so something can be linked after it.
import { ImproperlyConfigured } from "../errors.js";
import type { SignatureDict } from "../protocol/message.js";
import type { ApplyOptions, TaskRequest } from "../task.js";
import { Chain } from "./chain.js";
import { Chord } from "./chord.js";
import { Group } from "./group.js";
import { Signature, type AnySignature, type SignatureSender } from "./signature.js";

/** What the worker sends in the replaced task's place: the signature and the options that put it there. */
export interface Replacement {
  signature: AnySignature;
  options: ApplyOptions;
}

/**
 * Builds the replacement of the task `request` describes, sent by `app`
 * (which a signature not bound to an app, like an empty group, is bound to);
 * throws ImproperlyConfigured for a signature that cannot replace it.
 */
export function replacementFor(app: SignatureSender, request: TaskRequest, sig: AnySignature): Replacement {
  // Celery's own messages, which Python callers match on.
  if (sig.options.chord) throw new ImproperlyConfigured("A signature replacing a task must not be part of a chord");
  if (sig instanceof Chain && !sig.tasks.length) throw new ImproperlyConfigured("Cannot replace with an empty chain");
  let replacement: AnySignature = sig.app ? sig.clone() : Signature.fromDict(app, structuredClone(sig.toDict()));
  if (replacement instanceof Group) {
    const accumulate = new Signature(replacement.app, "celery.accumulate", [], { index: 0 });
    replacement = new Chord(replacement.app, replacement, accumulate);
  }
  for (const callback of request.callbacks ?? []) replacement.link(callback);
  for (const errback of request.errbacks ?? []) replacement.linkError(errback);
  const nesting = Number(request.headers.replaced_task_nesting ?? 0) + 1;
  return {
    signature: replacement,
    options: {
      taskId: request.id,
      rootId: request.rootId,
      ...(request.parentId ? { parentId: request.parentId } : {}),
      ...(request.groupId ? { groupId: request.groupId } : {}),
      ...(request.groupIndex !== null ? { groupIndex: request.groupIndex } : {}),
      chord: request.chord,
      // Wire order (reversed): what followed the replaced task follows the replacement.
      chain: request.chain?.length ? ([...request.chain] as SignatureDict[]) : null,
      headers: { replaced_task_nesting: nesting },
    },
  };
}
