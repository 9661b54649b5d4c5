// The states of one task as they are stored, until it is ready: what
// AsyncResult.updates() iterates. Pushed by the backend where it can tell of
// writes (Redis pub/sub, Celery's own channel per task, so a Python task's
// update_state is heard too), polled from get() elsewhere (SQLite, memory,
// rpc). A slow poll runs beside the push as well: a state published while the
// subscriber reconnected is still read from the store.
import type { ResultBackend, ResultMeta } from "./backends/backend.js";
import { TimeoutError } from "./errors.js";
import { READY_STATES } from "./states.js";

export interface UpdatesOptions {
  /** Milliseconds in all; then the iteration throws TimeoutError. Default: no limit. */
  timeout?: number;
  /** How often the store is read where nothing is pushed (ms, default 250; with pub/sub, 10 times as seldom). */
  pollMs?: number;
  /** Ends the iteration (without an error) when aborted: a web client that went away. */
  signal?: AbortSignal;
}

const DEFAULT_POLL_MS = 250;

/** A key that tells two states apart (the same state with other meta is an update: PROGRESS 1/3, 2/3…). */
function keyOf(meta: ResultMeta): string {
  return `${meta.status}\u0000${JSON.stringify(meta.result) ?? ""}`;
}

export async function* stateUpdates(backend: ResultBackend, taskId: string, opts: UpdatesOptions = {}): AsyncGenerator<ResultMeta, void, undefined> {
  const deadline = opts.timeout === undefined ? Infinity : Date.now() + opts.timeout;
  const pushed: ResultMeta[] = [];
  let wake: (() => void) | null = null;
  const { signal } = opts;
  const onAbort = () => wake?.();
  signal?.addEventListener("abort", onAbort, { once: true });
  const onMeta = (meta: ResultMeta) => {
    pushed.push(meta);
    wake?.();
  };
  const stop = backend.watch ? await backend.watch(taskId, onMeta) : null;
  const pollMs = (opts.pollMs ?? DEFAULT_POLL_MS) * (stop ? 10 : 1);
  let last = "";
  try {
    // What is stored already (read after subscribing, so nothing falls between).
    const now = await backend.get(taskId);
    if (now) pushed.unshift(now);
    for (;;) {
      if (signal?.aborted) return;
      while (pushed.length) {
        const meta = pushed.shift()!;
        const key = keyOf(meta);
        if (key === last) continue;
        last = key;
        yield meta;
        if (READY_STATES.has(meta.status)) return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`task ${taskId} did not finish within ${opts.timeout} ms`);
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Math.min(pollMs, left));
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = null;
      if (!woken && Date.now() < deadline && !signal?.aborted) {
        const read = await backend.get(taskId);
        if (read) pushed.push(read);
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    stop?.();
  }
}
