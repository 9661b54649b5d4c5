// What happens after a task finished, as its message's `embed` says: the next
// step of a chain, link callbacks, a chord part, link_error errbacks. The
// worker calls these once per finished task, whatever pool ran it, in
// Celery's order: after a success the callbacks and chain step before the
// task's own result is stored (its `children` name them), the chord part
// after; after a failure everything after the result is stored.
//
// Any signature kind may come next (a group or chord inside a chain, a chain
// as a callback): Signature.fromDict rebuilds the right one, as Celery's
// `signature(dict)` does, and it is applied with the previous result.
import type { Celeriac } from "../app.js";
import { resultMeta } from "../backends/result-meta.js";
import type { ExceptionInfo } from "../errors.js";
import type { SignatureDict, TaskMessage } from "../protocol/message.js";
import { States } from "../states.js";
import { chordPartReturn, type ChordPart } from "./chord-join.js";
import { runErrbacks, type FailedRequest } from "./errbacks.js";
import { Group } from "./group.js";
import "./index.js";
import { Signature, type ResultHandle } from "./signature.js";

function parentage(msg: TaskMessage) {
  return { parentId: msg.headers.id, rootId: msg.headers.root_id ?? msg.headers.id };
}

function partOf(msg: TaskMessage): ChordPart {
  return {
    taskId: msg.headers.id,
    groupId: msg.headers.group,
    groupIndex: msg.headers.group_index,
    chord: msg.embed.chord,
    rootId: msg.headers.root_id ?? msg.headers.id,
  };
}

/** Applies a signature dict with `args` prepended (unless immutable), as a child of `msg`; resolves once sent. */
function applyNext(app: Celeriac, sig: SignatureDict, args: unknown[], msg: TaskMessage, extra: Record<string, unknown> = {}): Promise<void> {
  const s = Signature.fromDict(app, sig);
  return (s.applyAsync(args, { ...parentage(msg), ...extra }) as ResultHandle).sent;
}

/** Whether a finished task has anything to continue (callbacks, a chain, a chord): most have not. */
export function hasSuccessContinuation(msg: TaskMessage): boolean {
  const e = msg.embed;
  return !!(e.callbacks?.length || e.chain?.length || (e.chord && msg.headers.group));
}

/**
 * After SUCCESS, before the result is stored (Celery's trace applies them
 * first, so the stored `children` name them): the link callbacks, then the
 * chain's next step. Several callbacks are applied as one group (groups among
 * them each on their own), as Celery's trace does.
 */
export async function sendSuccessors(app: Celeriac, msg: TaskMessage, value: unknown): Promise<void> {
  const sends: Promise<void>[] = [];
  const callbacks = msg.embed.callbacks ?? [];
  if (callbacks.length === 1) sends.push(applyNext(app, callbacks[0]!, [value], msg));
  else if (callbacks.length > 1) {
    const sigs = callbacks.map((cb) => Signature.fromDict(app, cb));
    const groups = sigs.filter((s) => s instanceof Group);
    const tasks = sigs.filter((s) => !(s instanceof Group));
    for (const g of groups) sends.push((g.applyAsync([value], parentage(msg)) as ResultHandle).sent);
    if (tasks.length) sends.push(new Group(app, tasks).applyAsync([value], parentage(msg)).sent);
  }
  const chain = msg.embed.chain;
  if (chain && chain.length) {
    // The rest of a chain is stored reversed: the last element runs next, and carries the others.
    const rest = chain.slice(0, -1);
    sends.push(applyNext(app, chain[chain.length - 1]!, [value], msg, { chain: rest.length ? rest : null }));
  }
  await Promise.all(sends);
}

/** After SUCCESS is stored: this task's chord part (Celery's mark_as_done). */
export async function chordPartAfterSuccess(app: Celeriac, msg: TaskMessage, value: unknown): Promise<void> {
  await chordPartReturn(app, partOf(msg), States.SUCCESS, value, null);
}

/**
 * After FAILURE (Celery's mark_as_failure): this task's chord part; the same
 * failure stored for every later step of its chain (so whoever waits on the
 * chain's result hears of it, and chords those steps belong to complete); then
 * the link_error errbacks (see errbacks.ts: the failed task's id, or
 * (request, error, traceback) for a local errback that takes more than one parameter).
 */
export async function continueAfterFailure(app: Celeriac, msg: TaskMessage, exc?: ExceptionInfo, traceback: string | null = null): Promise<void> {
  const error = exc ?? { exc_type: "Exception", exc_message: ["task failed"], exc_module: "builtins" };
  await chordPartReturn(app, partOf(msg), States.FAILURE, error, traceback);
  const backend = await app.backend();
  for (const step of msg.embed.chain ?? []) {
    const o = (step.options ?? {}) as Record<string, unknown>;
    if (typeof o.task_id !== "string") continue;
    await backend.store(resultMeta({ taskId: o.task_id, status: States.FAILURE, result: error, traceback }));
    if (o.chord) {
      await chordPartReturn(
        app,
        {
          taskId: o.task_id,
          groupId: (o.group_id as string | undefined) ?? null,
          groupIndex: (o.group_index as number | undefined) ?? null,
          chord: o.chord as SignatureDict,
          rootId: msg.headers.root_id ?? msg.headers.id,
        },
        States.FAILURE,
        error,
        traceback,
      );
    }
  }
  const h = msg.headers;
  const request: FailedRequest = {
    id: h.id,
    task: h.task,
    args: msg.args,
    kwargs: msg.kwargs,
    rootId: h.root_id ?? h.id,
    parentId: h.parent_id,
    groupId: h.group,
    groupIndex: h.group_index,
    retries: h.retries,
  };
  await runErrbacks(app, msg.embed.errbacks ?? [], request, error, traceback);
}

/** After REVOKED (expired, or revoked before it ran): only the chord part, as Celery's mark_as_revoked does. */
export async function continueAfterRevoked(app: Celeriac, msg: TaskMessage, exc: ExceptionInfo): Promise<void> {
  await chordPartReturn(app, partOf(msg), States.REVOKED, exc, null);
}
