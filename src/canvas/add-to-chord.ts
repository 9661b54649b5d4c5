// Task.add_to_chord (Celery's app/task.py `add_to_chord`): a running chord
// header task adds a signature to the chord it is in. The added task joins
// the chord at its adder's group index and completes a part of it; the backend
// grows the chord's expected size first (on Redis Celery's `.t` key, which a
// Python worker reads too), so the chord cannot complete without it.
import { ConfigurationError, NotInChordError } from "../errors.js";
import type { TaskRequest } from "../task.js";
import type { AnySignature, ResultHandle } from "./signature.js";

export interface AddToChordOptions {
  /** Only prepare the signature: the caller sends it (Celery's lazy=True). */
  lazy?: boolean;
}

/**
 * Puts `sig` in the chord the task `request` describes, grows the chord, and
 * sends `sig` (unless lazy). Async, unlike Celery: the chord must have grown
 * before the adder records its own part, and the backend is not synchronous here.
 */
export async function addToChord(request: TaskRequest, sig: AnySignature, opts: AddToChordOptions = {}): Promise<unknown> {
  if (!request.chord || !request.groupId) throw new NotInChordError();
  sig.set({
    groupId: request.groupId,
    ...(request.groupIndex !== null ? { groupIndex: request.groupIndex } : {}),
    chord: request.chord,
    rootId: request.rootId,
  });
  sig.freeze();
  const app = sig.app;
  if (!app) throw new ConfigurationError(`signature ${sig.task} is not bound to an app: it cannot be added to a chord`);
  const backend = await app.backend();
  if (!backend.addToChord) throw new ConfigurationError(`the result backend ${backend.displayUrl} cannot add tasks to a chord`);
  await backend.addToChord(request.groupId);
  if (opts.lazy) return sig;
  const handle = sig.delay() as ResultHandle;
  await handle.sent;
  return handle;
}
