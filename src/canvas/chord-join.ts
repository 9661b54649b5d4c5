// The worker's side of a chord: each finished header task records its part
// with the result backend; the one call that completes the chord applies the
// callback with every result in header order — or, when a header task failed,
// fails the callback with a ChordError and runs the callback's errbacks.
// The callback is sent at least once: the completing part's record is kept
// until the send is done (see ResultBackend.chordJoin).
import type { Celeriac } from "../app.js";
import type { ResultBackend, ResultMeta } from "../backends/backend.js";
import { resultMeta } from "../backends/result-meta.js";
import { ChordError, serializeError, tracebackOf, type ExceptionInfo } from "../errors.js";
import type { SignatureDict } from "../protocol/message.js";
import { repr } from "../protocol/repr.js";
import type { ResultTuple } from "../result.js";
import { States } from "../states.js";
import { collectingTrail, currentTrail } from "../trail.js";
import { Chain } from "./chain.js";
import { runErrbacks, type FailedRequest } from "./errbacks.js";
import { Group } from "./group.js";
import { Signature, type AnySignature, type ResultHandle } from "./signature.js";

/** What a chord part needs to know about the task that finished. */
export interface ChordPart {
  taskId: string;
  groupId: string | null;
  groupIndex: number | null;
  /** The callback (embed.chord of the header task). */
  chord: SignatureDict | null;
  rootId: string;
}

const PROPAGATE = new Set<string>([States.FAILURE, States.REVOKED]);

/** A stable index for a part sent without `group_index` (never by Celery 5), so parts do not overwrite each other. */
function fallbackIndex(taskId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) h = Math.imul(h ^ taskId.charCodeAt(i), 0x01000193) >>> 0;
  return 1_000_000_000 + h;
}

/** The chord's size: from the message (chord_size), else as recorded by the producer, else the saved group. */
async function sizeOf(backend: ResultBackend, part: ChordPart): Promise<number | null> {
  const given = part.chord?.chord_size;
  if (typeof given === "number") return given;
  if (backend.setChordSize) return null; // the backend knows (Celery's set_chord_size)
  const saved = await backend.restoreGroup(part.groupId!);
  return saved ? saved.length : null;
}

/** Records one finished header task; applies (or fails) the callback when it was the last. */
export async function chordPartReturn(app: Celeriac, part: ChordPart, status: string, result: unknown, traceback: string | null): Promise<void> {
  if (!part.chord || !part.groupId) return;
  const backend = await app.backend();
  const callback = Signature.fromDict(app, part.chord);
  const size = await sizeOf(backend, part);
  if (size === null && !backend.setChordSize) {
    await failCallback(app, callback, new ChordError(`chord ${part.groupId}: its size is unknown (no chord_size in the callback, no saved group)`), part);
    return;
  }
  const meta = resultMeta({ taskId: part.taskId, status, result, traceback, groupId: part.groupId });
  const parts = await backend.chordJoin(part.groupId, part.groupIndex ?? fallbackIndex(part.taskId), size, meta);
  if (!parts) return;
  const failed = await applyCallback(app, callback, parts, part);
  // Only now: had this worker died before the send, the part's redelivered
  // message (acksLate) would complete the chord again. A chord failed by a
  // header task keeps its parts until they expire, as Celery's Redis backend
  // does (its on_chord_part_return raises before deleting them): they are
  // where a caller finds what the other header tasks returned.
  if (!failed) await backend.chordDone(part.groupId);
}

/**
 * Sends the callback with every header result, or fails it when the send
 * failed or a header task did; returns true in that last case.
 */
async function applyCallback(app: Celeriac, callback: AnySignature, parts: ResultMeta[], part: ChordPart): Promise<boolean> {
  const culprit = parts.find((m) => PROPAGATE.has(m.status));
  if (culprit) {
    const exc = culprit.result as Partial<ExceptionInfo> | null;
    const what = exc && typeof exc === "object" && "exc_type" in exc ? `${exc.exc_type}(${(exc.exc_message ?? []).map((m) => repr(m)).join(", ")})` : repr(exc);
    await failCallback(app, callback, new ChordError(`Dependency ${culprit.task_id} raised ${what}`), part);
    return true;
  }
  try {
    const values = await headerValues(await app.backend(), part.groupId!, parts);
    await (callback.applyAsync([values], { parentId: part.taskId, rootId: part.rootId }) as ResultHandle).sent;
  } catch (err) {
    await failCallback(app, callback, new ChordError(`Callback error: ${(err as Error).message}`), part);
  }
  return false;
}

/**
 * The header's values for the callback: in group order, or, when the header
 * was saved with a member that is a group itself (a chain ending in a group:
 * Celery's Redis apply_chord saves such headers, and so does ours), shaped
 * like it, that member's value being its group's list (Celery joins the
 * restored GroupResult then).
 */
async function headerValues(backend: ResultBackend, groupId: string, parts: ResultMeta[]): Promise<unknown[]> {
  const saved = await backend.restoreGroup(groupId);
  if (!saved?.some((m) => Array.isArray(m[1]))) return parts.map((m) => m.result);
  const byId = new Map(parts.map((m) => [m.task_id, m.result]));
  const valueOf = async ([[id], members]: ResultTuple): Promise<unknown> => {
    if (Array.isArray(members)) return Promise.all(members.map(valueOf));
    return byId.has(id) ? byId.get(id) : (await backend.get(id))?.result;
  };
  return Promise.all(saved.map(valueOf));
}

/** The task ids a callback's result lives under (every step, for a chain: whoever waits on any of them hears). */
function callbackIds(callback: AnySignature): string[] {
  if (callback instanceof Chain || callback instanceof Group) return callback.tasks.flatMap(callbackIds);
  return typeof callback.options.task_id === "string" ? [callback.options.task_id] : [];
}

function errbacksOf(callback: AnySignature): SignatureDict[] {
  const own = Array.isArray(callback.options.link_error) ? (callback.options.link_error as SignatureDict[]) : [];
  const inner = callback instanceof Chain ? callback.tasks.flatMap(errbacksOf) : [];
  const seen = new Set<string>();
  return [...own, ...inner].filter((e) => {
    const key = JSON.stringify(e);
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

/**
 * Runs the callback's errbacks with the callback's id, then stores the
 * ChordError as the callback's FAILURE (Celery's chord_error_from_stack,
 * old-style errbacks). The stored `children` are those of the task that
 * completed the chord, the errbacks' group among them: Celery stores the
 * callback's failure with the current task's request.children.
 */
export async function failCallback(app: Celeriac, callback: AnySignature, err: ChordError, part: ChordPart): Promise<void> {
  app.log.error(`chord ${part.groupId} failed: ${err.message}`);
  const backend = await app.backend();
  const ids = callbackIds(callback);
  const info = serializeError(err);
  const callbackId = ids.at(-1) ?? part.taskId;
  // As Celery's chord_error_from_stack: a request made up for the callback, which never ran.
  const request: FailedRequest = {
    id: callbackId,
    task: callback.task,
    args: callback.args,
    kwargs: callback.kwargs,
    rootId: part.rootId,
    parentId: null,
    groupId: null,
    groupIndex: null,
    retries: 0,
  };
  const trail = currentTrail() ?? [];
  let unsent: unknown = null;
  try {
    await collectingTrail(trail, () => runErrbacks(app, errbacksOf(callback), request, info, null));
  } catch (e) {
    unsent = e;
  }
  // Whoever waits on the callback hears of the failure even when its errbacks could not be sent.
  for (const id of ids) {
    await backend.store(resultMeta({ taskId: id, status: States.FAILURE, result: info, traceback: tracebackOf(err), children: trail }));
  }
  if (unsent) throw unsent;
}
