// AsyncResult: a handle on one task's outcome, by id.
//
// Reading the store is asynchronous in JS, so `state`, `result` and
// `traceback` are the last values seen (PENDING until something was read);
// `get()`, `refresh()`, `ready()`, `successful()` and `failed()` read the
// store and update them.
import type { ResultBackend, ResultMeta } from "./backends/backend.js";
import type { GroupResult } from "./canvas/group-result.js";
import { deserializeError } from "./errors.js";
import { READY_STATES, States, type State } from "./states.js";
import { isSettled, watchSettled } from "./util/settled.js";
import { stateUpdates, type UpdatesOptions } from "./result-updates.js";
import { collect, iterdeps, type CollectOptions, type IterdepsOptions } from "./result-graph.js";
import type { TaskLogLine } from "./worker/task-log.js";

export type { UpdatesOptions } from "./result-updates.js";
export type { CollectOptions, IterdepsOptions } from "./result-graph.js";

type FromTuple = (source: ResultSource, tuple: ResultTuple) => AsyncResult | GroupResult;
// Celery's result_from_tuple lives with GroupResult (canvas/group-result.ts),
// which builds on this module, so this one cannot import it: it hands it over
// when it loads (the package's index loads both).
let fromTuple: FromTuple | null = null;
/** Called once by canvas/group-result.ts. */
export function provideResultFromTuple(fn: FromTuple): void {
  fromTuple = fn;
}

/** The meta of the PROGRESS state, as `this.progress(current, total)` stores it. */
export interface Progress {
  current: number;
  total: number;
  [key: string]: unknown;
}

export interface GetOptions {
  /** Milliseconds to wait; rejects with TimeoutError after it. Default: wait forever. */
  timeout?: number;
  /** Throw the task's error when it failed (default true); false returns the error instead. */
  propagate?: boolean;
}

/** What an AsyncResult needs from the app: kept small so results can be made anywhere. */
export interface ResultSource {
  backend(): Promise<ResultBackend>;
  /** The backend if it is open already, without an await. */
  backendNow?(): ResultBackend | null;
  revoke?(taskId: string, opts?: { terminate?: boolean; signal?: string }): Promise<void>;
}

/** The `sent` of a result made for a task sent elsewhere. */
const SENT: Promise<void> = Promise.resolve();

export class AsyncResult<T = unknown> {
  readonly id: string;
  /** The result of the step before this one in a chain (a GroupResult for a chord's callback), when known. */
  parent: AsyncResult | GroupResult | null;
  /** The task's name when this result was made by a send here (Celery's AsyncResult.name). */
  name: string | null = null;
  /** True once someone took `sent` (or called get()/refresh()): a failed send is theirs to see, else the app logs it. */
  sentObserved = false;
  private sending_: Promise<void>;
  private meta: ResultMeta | null = null;
  private childrenSeen: { of: readonly unknown[]; results: (AsyncResult | GroupResult)[] } | null = null;

  constructor(
    id: string,
    private readonly source: ResultSource,
    sent?: Promise<void>,
    parent: AsyncResult | GroupResult | null = null,
  ) {
    this.id = id;
    this.parent = parent;
    this.sending_ = sent ?? SENT;
    // A failed send is reported through get()/sent; watching it also keeps it from crashing the process.
    if (sent) watchSettled(sent);
  }

  /** Gives a result made before its send its send's promise (the app's sendTask does). */
  attachSend(sent: Promise<void>): void {
    this.sending_ = sent;
    watchSettled(sent);
  }

  /**
   * Resolves once the task message is in the broker; rejects with a
   * PublishError if sending failed. A failed send whose `sent` nobody took is
   * logged at ERROR and reported by app.close().
   */
  get sent(): Promise<void> {
    this.sentObserved = true;
    return this.sending_;
  }

  /** True until `sent` settles: a get() meanwhile can start listening before the task can finish. */
  private get sending(): boolean {
    return this.sending_ !== SENT && !isSettled(this.sending_);
  }

  get state(): State | string {
    return this.meta?.status ?? States.PENDING;
  }

  get status(): State | string {
    return this.state;
  }

  get result(): T | Error | undefined {
    if (!this.meta) return undefined;
    if (this.meta.status === States.FAILURE || this.meta.status === States.REVOKED || this.meta.status === States.RETRY) {
      return deserializeError(this.meta.result, this.meta.traceback);
    }
    return this.meta.result as T;
  }

  get traceback(): string | null {
    return this.meta?.traceback ?? null;
  }

  /**
   * The latest PROGRESS meta seen (from `this.progress()` or a Python task's
   * update_state(state="PROGRESS", meta={"current":…, "total":…})), else null.
   */
  get progress(): Progress | null {
    const m = this.meta;
    if (m?.status !== "PROGRESS" || !m.result || typeof m.result !== "object") return null;
    const p = m.result as Progress;
    return typeof p.current === "number" && typeof p.total === "number" ? p : null;
  }

  /**
   * Each state the task is stored in from now on (what is stored already
   * first), its custom states and their meta included, ending after the ready
   * state: `for await (const meta of r.updates()) console.log(meta.status, meta.result)`.
   * Pub/sub on Redis, polling elsewhere; `state`, `result` and `progress`
   * follow along. Throws TimeoutError after `opts.timeout` ms.
   */
  async *updates(opts: UpdatesOptions = {}): AsyncGenerator<ResultMeta, void, undefined> {
    await this.sent;
    const backend = await this.source.backend();
    for await (const meta of stateUpdates(backend, this.id, opts)) {
      this.meta = meta;
      yield meta;
    }
  }

  /** The lines the task logged (`this.log`), oldest first, where the backend keeps them ([] on rpc://). */
  async logs(): Promise<TaskLogLine[]> {
    const backend = await this.source.backend();
    return (await backend.getLog?.(this.id)) ?? [];
  }

  /** The full stored meta (date_done, children, and the extended fields when enabled). */
  get info(): ResultMeta | null {
    return this.meta;
  }

  /**
   * The results of the tasks this one started (Celery's AsyncResult.children):
   * what it sent while it ran, its link callbacks (several as one
   * GroupResult) and its chain's next step, from the meta last read (so after
   * `get()`, `refresh()` or `ready()`); null before anything was read.
   */
  get children(): (AsyncResult | GroupResult)[] | null {
    const raw = this.meta?.children;
    if (!raw) return null;
    // The same objects until the meta changes, so states read on them stay.
    if (this.childrenSeen?.of !== raw) {
      if (!fromTuple) throw new Error("AsyncResult.children needs canvas/group-result.js loaded (import from the package's index)");
      const make = fromTuple;
      this.childrenSeen = { of: raw, results: raw.map((t) => make(this.source, t as ResultTuple)) };
    }
    return this.childrenSeen.results;
  }

  /**
   * `[result, value]` for this result and then every descendant, breadth
   * first, each waited for with `get(opts)` (Celery's collect()): a task's
   * children are followed once it is ready; one that is not ends the walk
   * with IncompleteStream unless `intermediate: true`.
   */
  collect(opts: CollectOptions = {}): AsyncGenerator<[AsyncResult | GroupResult, unknown], void, undefined> {
    return collect(this, opts) as AsyncGenerator<[AsyncResult | GroupResult, unknown], void, undefined>;
  }

  /** `[parent, node]` for this result and every descendant, breadth first, without waiting (Celery's iterdeps()). */
  iterdeps(opts: IterdepsOptions = {}): AsyncGenerator<[AsyncResult | GroupResult | null, AsyncResult | GroupResult], void, undefined> {
    return iterdeps(this, opts) as AsyncGenerator<[AsyncResult | GroupResult | null, AsyncResult | GroupResult], void, undefined>;
  }

  /** Reads the current state from the result backend. */
  async refresh(): Promise<ResultMeta | null> {
    await this.sent;
    const backend = await this.source.backend();
    const meta = await backend.get(this.id);
    if (meta) this.meta = meta;
    return meta;
  }

  async ready(): Promise<boolean> {
    if (this.meta && READY_STATES.has(this.meta.status)) return true;
    await this.refresh();
    return READY_STATES.has(this.state);
  }

  async successful(): Promise<boolean> {
    await this.ready();
    return this.state === States.SUCCESS;
  }

  async failed(): Promise<boolean> {
    await this.ready();
    return this.state === States.FAILURE;
  }

  /** Waits for the task to finish and returns its value (or throws its error). */
  async get(opts: GetOptions = {}): Promise<T> {
    const started = Date.now();
    // With the backend at hand, a get() right after its send starts listening in the
    // same tick, so its SUBSCRIBE goes out together with the message.
    const backend = this.source.backendNow?.() ?? (await this.source.backend());
    const timeoutMs = opts.timeout === undefined ? undefined : Math.max(0, opts.timeout - (Date.now() - started));
    if (this.sending) {
      // Listen while the message travels (a round trip saved); a failed send ends the wait with its error.
      this.meta = await backend.waitFor(this.id, { timeoutMs, sending: this.sent });
    } else {
      await this.sent;
      this.meta = await backend.waitFor(this.id, { timeoutMs });
    }
    if (this.meta.status === States.SUCCESS) return this.meta.result as T;
    const err = deserializeError(this.meta.result, this.meta.traceback);
    if (opts.propagate === false) return err as unknown as T;
    throw err;
  }

  /** Removes the stored result. */
  async forget(): Promise<void> {
    const backend = await this.source.backend();
    await backend.forget(this.id);
    this.meta = null;
  }

  async revoke(opts: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    if (!this.source.revoke) throw new Error("revoke is not available from this result's source");
    await this.source.revoke(this.id, opts);
  }

  toString(): string {
    return this.id;
  }

  toJSON(): string {
    return this.id;
  }

  /** Celery's AsyncResult.as_tuple(): how a result returned by a task is stored, `((id, parent), None)`. */
  asTuple(): ResultTuple {
    return [[this.id, this.parent?.asTuple() ?? null], null];
  }
}

/** A result as Celery's as_tuple() writes it: `((id, parent tuple or None), member tuples or None)`. */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];
