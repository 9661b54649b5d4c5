// A task: a named function with options, registered on an app. Typed, so
// `add.delay(2, 3)` checks its arguments and `get()` has the return type.
import type { AnySignature, SignatureSender } from "./canvas/signature.js";
import { Signature } from "./canvas/signature.js";
import { Chunks } from "./canvas/chunks.js";
import { MapSignature } from "./canvas/map.js";
import type { PublishRetryPolicy } from "./config.js";
import type { Retry } from "./errors.js";
import type { DeliveryInfo, SignatureDict } from "./protocol/message.js";
import type { AsyncResult, ResultTuple } from "./result.js";
import type { StateUpdate } from "./worker/task-report.js";
import type { TaskLogger } from "./worker/task-log.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

/** Everything a running task knows about its call (`this.request` in a bound task). */
export interface TaskRequest {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  hostname: string;
  deliveryInfo: DeliveryInfo & { priority?: number; redelivered?: boolean };
  eta: string | null;
  expires: string | null;
  parentId: string | null;
  rootId: string;
  groupId: string | null;
  groupIndex: number | null;
  correlationId: string;
  replyTo: string | null;
  origin: string;
  timeLimit: [number | null, number | null];
  headers: Record<string, unknown>;
  /** Callbacks (link), errbacks (link_error), the rest of the chain (reversed) and the chord callback, from the message's embed. */
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
  /** The message's properties (correlation_id, reply_to, priority, app_id, delivery_info…), as Celery's request.properties. */
  properties: Record<string, unknown>;
  ignoreResult: boolean;
  isEager: boolean;
}

export interface RetryOptions {
  /** Seconds before the next attempt (default: the task's defaultRetryDelay or backoff). */
  countdown?: number;
  eta?: Date;
  /** The error that caused the retry: stored as the RETRY reason and raised when retries run out. */
  exc?: unknown;
  /** Overrides the task's maxRetries for this decision (null: forever). */
  maxRetries?: number | null;
}

/** `this` inside a task function. */
export interface TaskContext {
  readonly name: string;
  readonly request: TaskRequest;
  /** Aborted when the soft time limit runs out (reason: SoftTimeLimitExceeded) or the task is revoked with terminate. */
  readonly signal: AbortSignal;
  /** Asks for another attempt later. Throws a Retry: code after it does not run. */
  retry(opts?: RetryOptions): never;
  /**
   * Hands this task's place in its workflow to `sig` (Celery's self.replace):
   * it takes over the task's id, callbacks, errbacks, chain and chord. Throws
   * (code after it does not run); the task itself stores no result.
   */
  replace(sig: AnySignature): never;
  /**
   * Adds `sig` to the chord this task is a header part of (Celery's
   * self.add_to_chord): the chord's callback waits for it too, and gets its
   * result among the others. Resolves with its result handle once sent, or
   * with the prepared signature when `lazy` (the caller sends it). Rejects
   * with NotInChordError (a ValueError) when the task is in no chord.
   */
  addToChord<H>(sig: Signature<unknown, H>, opts?: { lazy?: false }): Promise<H>;
  addToChord<S extends AnySignature>(sig: S, opts: { lazy: true }): Promise<S>;
  /** The results of the tasks this call sent so far (Celery's request.children), as Celery's result tuples; stored as the result's `children`. */
  readonly children: ResultTuple[];
  /**
   * Stores a state of the task's own in the result backend, in Celery's format
   * (Celery's self.update_state(state=…, meta=…)): a caller's AsyncResult, in
   * TypeScript or Python, then reads `state` and its meta as `result` (Python's
   * `.info`). Resolves once stored; rejects with InvalidStateUpdate (bad
   * update) or the backend's error. The task's outcome is stored after every
   * update it made, so a late update never hides it.
   */
  updateState(update: StateUpdate): Promise<void>;
  /** `updateState({ state: "PROGRESS", meta: { current, total, ...extra } })`: the shape Celery progress bars read. */
  progress(current: number, total: number, extra?: Record<string, unknown>): Promise<void>;
  /**
   * The task's logger (BullMQ's job.log()): each line is printed on the worker's
   * log tagged with the task's name and id, and kept with its result (the last
   * 1,000 lines, 2,000 characters each, where the backend keeps logs:
   * memory, sqlite, redis), read with `AsyncResult.logs()` and on the
   * dashboard's task page. Arguments are formatted as console.log does.
   */
  readonly log: TaskLogger;
}

export interface TaskHooks {
  onSuccess?(this: TaskContext, retval: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onFailure?(this: TaskContext, exc: Error, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onRetry?(this: TaskContext, exc: Error, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  afterReturn?(this: TaskContext, status: string, retval: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
}

/** A task's own options (`app.task({...}, fn)`), Celery's Task attributes in camelCase; unset ones fall back to the app's settings. */
export interface TaskOptions extends TaskHooks {
  /** The registered name (Celery's Task.name). Default `<app name>.<function name>`. */
  name?: string;
  /** Accepted for Celery parity (bind=True): `this` is always the task context. */
  bind?: boolean;
  /** Shared options and hooks (Celery's base=MyTask); the task's own options win. */
  base?: TaskOptions;
  /** Queue the task is sent to (Celery's Task.queue). Default: taskRoutes, then taskDefaultQueue. */
  queue?: string;
  /** Exchange the task is sent to (Celery's Task.exchange). Default: the queue's. */
  exchange?: string;
  /** Routing key (Celery's Task.routing_key). Default: the queue's name. */
  routingKey?: string;
  /** Message priority, 0–255 where the broker supports it (Celery's Task.priority). Default: taskDefaultPriority. */
  priority?: number;
  /** Retries before a retry raises the error; null: forever (Celery's Task.max_retries). Default: taskMaxRetries (3). */
  maxRetries?: number | null;
  /** Seconds before a retry with no countdown (Celery's Task.default_retry_delay). Default: taskDefaultRetryDelay (180). */
  defaultRetryDelay?: number;
  /** Error classes that retry the task automatically (Celery's Task.autoretry_for). Default none. */
  autoretryFor?: ErrorClass[];
  /** Exponential backoff of automatic retries: true (1 s base) or the base in seconds (Celery's Task.retry_backoff). Default false. */
  retryBackoff?: boolean | number;
  /** Longest backoff, in seconds (Celery's Task.retry_backoff_max). Default 600. */
  retryBackoffMax?: number;
  /** Randomise the backoff (Celery's Task.retry_jitter). Default true. */
  retryJitter?: boolean;
  /** Store no result (Celery's Task.ignore_result). Default: taskIgnoreResult. */
  ignoreResult?: boolean;
  /** With ignoreResult, still store failures (Celery's Task.store_errors_even_if_ignored). Default: the setting. */
  storeErrorsEvenIfIgnored?: boolean;
  /** Ack after the task ran, not before (Celery's Task.acks_late). Default: taskAcksLate. */
  acksLate?: boolean;
  /** With acksLate, requeue the task when its pool child dies (Celery's Task.reject_on_worker_lost). Default: the setting. */
  rejectOnWorkerLost?: boolean;
  /** Store STARTED when the task begins (Celery's Task.track_started). Default: taskTrackStarted. */
  trackStarted?: boolean;
  /** Hard time limit in seconds: the pool child is killed (Celery's Task.time_limit). Default: taskTimeLimit. */
  timeLimit?: number;
  /** Soft time limit in seconds: `this.signal` aborts (Celery's Task.soft_time_limit). Default: taskSoftTimeLimit. */
  softTimeLimit?: number;
  /** Per worker, Celery's semantics: "10/s", "100/m", "1000/h" (Celery's Task.rate_limit). Default none. */
  rateLimit?: string;
  /** Shared by every worker on the broker, a token bucket in the broker store (Celeriac's own). Default none. */
  globalRateLimit?: string;
  /** Default expiry, seconds after sending (Celery's Task.expires). Default none. */
  expires?: number;
  /** Serializer of this task's messages (Celery's Task.serializer). Default: taskSerializer. */
  serializer?: string;
  /** Compression of this task's messages (Celery's Task.compression). Default: taskCompression. */
  compression?: string;
  /**
   * The function's parameter names, in order, so keyword arguments reach it
   * by name, as in Python (a Python caller's `add.delay(x=1, y=2)`, or
   * applyAsync's `kwargs`): a missing, unexpected or doubled argument fails the
   * task with Python's TypeError. Without `params` or `kwargsAsObject`, a call
   * with keyword arguments fails with that TypeError: never a wrong value (Celeriac's own).
   */
  params?: readonly string[];
  /** Keyword arguments as one final object argument after the positional ones, for a task that takes any (Celeriac's own). Default false. */
  kwargsAsObject?: boolean;
}

/** Options of one call (`applyAsync(args, {...})`), Celery's apply_async keywords in camelCase; they win over the task's. */
export interface ApplyOptions {
  /** Keyword arguments (Celery's kwargs): by name with `params`, or as one final object with `kwargsAsObject`. */
  kwargs?: Record<string, unknown>;
  /** Seconds from now before the task may run (Celery's countdown). */
  countdown?: number;
  /** The earliest time the task may run (Celery's eta); wins over countdown. */
  eta?: Date | string;
  /** Seconds from now, or a date, after which the task is not run: state REVOKED (Celery's expires). Default: the task's expires. */
  expires?: number | Date | string;
  /** Message priority (Celery's priority). Default: the task's, then taskDefaultPriority. */
  priority?: number;
  /** Queue (Celery's queue). Default: the task's, then taskRoutes, then taskDefaultQueue. */
  queue?: string;
  /** Exchange (Celery's exchange). Default: the queue's. */
  exchange?: string;
  /** Routing key (Celery's routing_key). Default: the queue's name. */
  routingKey?: string;
  /** The task id to use (Celery's task_id). Default: a new uuid4. */
  taskId?: string;
  /** Extra message headers (Celery's headers). */
  headers?: Record<string, unknown>;
  /** Hard time limit in seconds for this call (Celery's time_limit). Default: the task's. */
  timeLimit?: number;
  /** Soft time limit in seconds for this call (Celery's soft_time_limit). Default: the task's. */
  softTimeLimit?: number;
  /** Serializer of this message (Celery's serializer). Default: the task's, then taskSerializer. */
  serializer?: string;
  /** Compression of this message (Celery's compression). Default: the task's, then taskCompression. */
  compression?: string;
  /** Store no result for this call (Celery's ignore_result). Default: the task's. */
  ignoreResult?: boolean;
  /** Callbacks: applied with this task's result when it succeeds (Celery's link). */
  link?: AnySignature | AnySignature[];
  /** Errbacks: applied with this task's id when it fails, Celery's old-style errback call (Celery's link_error). */
  linkError?: AnySignature | AnySignature[];
  /** The id of the task that sent this one (Celery's parent_id). Default: the running task's, if any. */
  parentId?: string;
  /** The id of the workflow's first task (Celery's root_id). Default: the running task's root, else this task's id. */
  rootId?: string;
  /** The name shown in logs and events instead of the task's (Celery's shadow). */
  shadow?: string;
  /** The retry count this message carries (Celery's retries). Default 0. */
  retries?: number;
  /** Reply queue for rpc:// results (Celery's reply_to). Default: the app's oid. */
  replyTo?: string;
  /** The group this task is a member of (Celery's group_id). */
  groupId?: string;
  /** This task's position in its group (Celery's group_index). */
  groupIndex?: number;
  /** Retry a failed publish (Celery's apply_async `retry`). Default: the taskPublishRetry setting. */
  retry?: boolean;
  /** This send's publish retry policy, over taskPublishRetryPolicy (Celery's apply_async `retry_policy`). */
  retryPolicy?: PublishRetryPolicy;
  /** Sent from a running task: record it in that task's result `children` (default true; Celery's add_to_parent). */
  addToParent?: boolean;
  /** Raw embed parts (chain, chord…), for the canvas. */
  chain?: unknown[] | null;
  /** Raw chord embed, for the canvas. */
  chord?: unknown | null;
}

/**
 * The task's parameter list and every list left when leading parameters are
 * dropped: what `task.s()` accepts, since a chain prepends the parent's result
 * (Celery's partial signatures).
 */
export type ArgsTail<A extends unknown[]> = A | (A extends [unknown, ...infer Rest] ? ArgsTail<Rest> : never);

export type TaskFunction<A extends unknown[], R> = (this: TaskContext, ...args: A) => R | Promise<R>;

/** The part of the app a task needs (kept narrow to avoid an import cycle). */
export type TaskApp = SignatureSender;

export class Task<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly options: Readonly<TaskOptions>;

  constructor(
    private readonly app: TaskApp,
    name: string,
    readonly fn: TaskFunction<A, R>,
    options: TaskOptions = {},
  ) {
    this.name = name;
    this.options = { ...options.base, ...options };
  }

  /** Sends the task with positional arguments. */
  delay(...args: A): AsyncResult<R> {
    return this.applyAsync(args);
  }

  /** Sends the task with arguments and call options (countdown, eta, expires, priority, queue, kwargs…). */
  applyAsync(args?: A, options: ApplyOptions = {}): AsyncResult<R> {
    return this.app.sendTask(this.name, (args ?? []) as unknown[], options.kwargs, options) as AsyncResult<R>;
  }

  /**
   * A signature. It may be partial: leading arguments left out come from the
   * parent's result in a chain, so any tail of the task's parameters is accepted.
   */
  s(...args: ArgsTail<A>): Signature<R> {
    return new Signature<R>(this.app, this.name, args);
  }

  /** An immutable signature: a chain does not pass the parent's result to it. */
  si(...args: A): Signature<R> {
    return new Signature<R>(this.app, this.name, args, {}, {}, null, true);
  }

  signature(args: unknown[] = [], opts: { kwargs?: Record<string, unknown>; options?: ApplyOptions; immutable?: boolean } = {}): Signature<R> {
    const sig = new Signature<R>(this.app, this.name, args, opts.kwargs ?? {}, {}, null, opts.immutable ?? false);
    if (opts.options) sig.set(opts.options);
    return sig;
  }

  /** The signature with no arguments, that map, starmap and chunks fill per item. */
  private bare(): Signature<R> {
    return new Signature<R>(this.app, this.name, []);
  }

  /** One message that runs this task over every item in turn (Celery's `task.map`). */
  map(items: Iterable<unknown>): MapSignature<R> {
    return new MapSignature<R>(this.app, "xmap", this.bare(), [...items]);
  }

  /** Like map, each item being an args list (Celery's `task.starmap`). */
  starmap(items: Iterable<unknown[]>): MapSignature<R> {
    return new MapSignature<R>(this.app, "xstarmap", this.bare(), [...items]);
  }

  /** The items (args lists) split into parts of n, the parts run in parallel (Celery's `task.chunks`). */
  chunks(items: Iterable<unknown[]>, n: number): Chunks<R> {
    return new Chunks<R>(this.app, this.bare(), [...items], n);
  }

  /** Runs the function here and now, without a broker (Celery's `task(...)`). */
  async call(...args: A): Promise<R> {
    const ctx: TaskContext = {
      name: this.name,
      request: eagerRequest(this.name, args),
      signal: new AbortController().signal,
      retry: (opts?: RetryOptions) => {
        throw (opts?.exc as Retry) ?? new Error("retry() called in a direct call");
      },
      replace: () => {
        throw new Error("replace() needs a worker: the task was called directly");
      },
      addToChord: () => {
        throw new Error("addToChord() needs a worker: the task was called directly");
      },
      children: [],
      // A direct call has no stored result to update: updates are accepted and dropped.
      updateState: () => Promise.resolve(),
      progress: () => Promise.resolve(),
      log: console,
    };
    return this.fn.apply(ctx, args);
  }
}

/**
 * A request made here rather than read from a message: every field at its
 * "none" value, `id` as its own root and correlation id. For direct calls, and
 * for benchmarks and tests that feed a pool.
 */
export function localRequest(id: string, task: string, args: unknown[], fields: Partial<TaskRequest> = {}): TaskRequest {
  return {
    id,
    task,
    args,
    kwargs: {},
    retries: 0,
    hostname: "local",
    deliveryInfo: { exchange: "", routing_key: "celery" },
    eta: null,
    expires: null,
    parentId: null,
    rootId: id,
    groupId: null,
    groupIndex: null,
    correlationId: id,
    replyTo: null,
    origin: "local",
    timeLimit: [null, null],
    headers: {},
    callbacks: null,
    errbacks: null,
    chain: null,
    chord: null,
    properties: {},
    ignoreResult: false,
    isEager: false,
    ...fields,
  };
}

function eagerRequest(name: string, args: unknown[]): TaskRequest {
  return localRequest("eager", name, args, { deliveryInfo: { exchange: "", routing_key: "" }, ignoreResult: true, isEager: true });
}
