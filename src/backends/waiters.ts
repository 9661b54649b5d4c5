// The callers waiting for task results, by task id: what every backend's
// waitFor shares. A backend registers a wait here and settles it when it learns
// of a ready state; a wait also ends on its timeout, or when the task's message
// could not be sent.
import { TimeoutError } from "../errors.js";
import type { ResultMeta } from "./backend.js";

export interface WaitOptions {
  /** Milliseconds to wait; then the wait rejects with TimeoutError. */
  timeoutMs?: number;
  /**
   * The send of the task's message, still on its way to the broker: the wait
   * ends with its error if it fails. Until it is done the result cannot be
   * stored, so a backend that is told of results (Redis pub/sub) need not read
   * the store before it listens. (A promise, not an AbortSignal: one per get()
   * of a fresh task, and a signal costs more than the rest of the wait.)
   */
  sending?: Promise<unknown>;
}

interface Waiter {
  resolve: (m: ResultMeta) => void;
  reject: (e: unknown) => void;
  /** Clears the timer. */
  disarm: () => void;
}

const nothing = () => {};

export class Waiters {
  private readonly byId = new Map<string, Waiter[]>();

  /**
   * @param onFirst called when an id gets its first waiter (a backend starts listening for it)
   * @param onIdle called when an id has no waiter left, settled or given up (it stops listening)
   */
  constructor(
    private readonly onFirst: (taskId: string, opts: WaitOptions) => void = nothing,
    private readonly onIdle: (taskId: string) => void = nothing,
  ) {}

  get size(): number {
    return this.byId.size;
  }

  has(taskId: string): boolean {
    return this.byId.has(taskId);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  add(taskId: string, opts: WaitOptions = {}): Promise<ResultMeta> {
    return new Promise<ResultMeta>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, disarm: nothing };
      const list = this.byId.get(taskId);
      if (list) list.push(waiter);
      else this.byId.set(taskId, [waiter]);
      if (!list) this.onFirst(taskId, opts);
      waiter.disarm = this.arm(taskId, waiter, opts);
    });
  }

  /** Resolves every waiter of the id; false when there was none. */
  settle(taskId: string, meta: ResultMeta): boolean {
    const list = this.byId.get(taskId);
    if (!list) return false;
    this.byId.delete(taskId);
    for (const w of list) {
      w.disarm();
      w.resolve(meta);
    }
    this.onIdle(taskId);
    return true;
  }

  /** Rejects every waiter (the backend closed or lost its connection for good). */
  failAll(err: unknown): void {
    const all = [...this.byId];
    this.byId.clear();
    for (const [id, list] of all) {
      for (const w of list) {
        w.disarm();
        w.reject(err);
      }
      this.onIdle(id);
    }
  }

  /** Arms the timeout and the failed send of a registered waiter; returns what disarms them. */
  private arm(taskId: string, waiter: Waiter, { timeoutMs, sending }: WaitOptions): () => void {
    const end = (err: unknown) => {
      if (!this.drop(taskId, waiter)) return; // settled already
      if (timer) clearTimeout(timer);
      waiter.reject(err);
    };
    const timer = timeoutMs === undefined ? null : setTimeout(() => end(new TimeoutError(`task ${taskId} did not finish within ${timeoutMs} ms`)), timeoutMs);
    sending?.catch(end);
    return timer ? () => clearTimeout(timer) : nothing;
  }

  /** Removes one waiter; false when it was not registered (any more). */
  private drop(taskId: string, waiter: Waiter): boolean {
    const list = this.byId.get(taskId);
    const i = list ? list.indexOf(waiter) : -1;
    if (i < 0) return false;
    list!.splice(i, 1);
    if (list!.length) return true;
    this.byId.delete(taskId);
    this.onIdle(taskId);
    return true;
  }
}
