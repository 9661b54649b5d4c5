// A task: a named function with options, registered on an app. Typed, so
// `add.delay(2, 3)` checks its arguments and `get()` has the return type.
import type { AnySignature, SignatureSender } from "./canvas/signature.js";
import { Signature } from "./canvas/signature.js";
import { Chunks } from "./canvas/chunks.js";
import { MapSignature } from "./canvas/map.js";
import type { PublishRetryPolicy } from "./config.js";
import type { Retry } from "./errors.js";
import type { DeliveryInfo } from "./protocol/message.js";
import type { AsyncResult } from "./result.js";

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
}

export interface TaskHooks {
  onSuccess?(this: TaskContext, retval: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onFailure?(this: TaskContext, exc: Error, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  onRetry?(this: TaskContext, exc: Error, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
  afterReturn?(this: TaskContext, status: string, retval: unknown, taskId: string, args: unknown[], kwargs: Record<string, unknown>): void | Promise<void>;
}

export interface TaskOptions extends TaskHooks {
  name?: string;
  /** Accepted for Celery parity: `this` is always the task context. */
  bind?: boolean;
  /** Shared options and hooks (Celery's base=MyTask); the task's own options win. */
  base?: TaskOptions;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
  maxRetries?: number | null;
  defaultRetryDelay?: number;
  autoretryFor?: ErrorClass[];
  retryBackoff?: boolean | number;
  retryBackoffMax?: number;
  retryJitter?: boolean;
  ignoreResult?: boolean;
  storeErrorsEvenIfIgnored?: boolean;
  acksLate?: boolean;
  rejectOnWorkerLost?: boolean;
  trackStarted?: boolean;
  /** Hard time limit in seconds. */
  timeLimit?: number;
  /** Soft time limit in seconds. */
  softTimeLimit?: number;
  /** Per worker, Celery's semantics: "10/s", "100/m", "1000/h". */
  rateLimit?: string;
  /** Shared by every worker on the broker (a token bucket in the broker store). */
  globalRateLimit?: string;
  /** Default expiry, seconds after sending. */
  expires?: number;
  serializer?: string;
  compression?: string;
}

export interface ApplyOptions {
  /** Keyword arguments: the task receives them as one final object argument. */
  kwargs?: Record<string, unknown>;
  /** Seconds from now before the task may run. */
  countdown?: number;
  eta?: Date | string;
  /** Seconds from now, or a date, after which the task is not run (state REVOKED). */
  expires?: number | Date | string;
  priority?: number;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  taskId?: string;
  headers?: Record<string, unknown>;
  timeLimit?: number;
  softTimeLimit?: number;
  serializer?: string;
  compression?: string;
  ignoreResult?: boolean;
  /** Callbacks: applied with this task's result when it succeeds. */
  link?: AnySignature | AnySignature[];
  /** Errbacks: applied with this task's id when it fails (Celery's old-style errback call). */
  linkError?: AnySignature | AnySignature[];
  parentId?: string;
  rootId?: string;
  shadow?: string;
  retries?: number;
  replyTo?: string;
  groupId?: string;
  groupIndex?: number;
  /** Retry a failed publish (Celery's apply_async `retry`; default: the taskPublishRetry setting). */
  retry?: boolean;
  /** This send's publish retry policy, over taskPublishRetryPolicy (Celery's apply_async `retry_policy`). */
  retryPolicy?: PublishRetryPolicy;
  /** Raw embed parts (chain, chord…), for the canvas. */
  chain?: unknown[] | null;
  chord?: unknown | null;
  [key: string]: unknown;
}

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

  /** A signature (partial: missing leading args may come from a parent in a chain). */
  s(...args: unknown[]): Signature<R> {
    return new Signature<R>(this.app, this.name, args);
  }

  /** An immutable signature: a chain does not pass the parent's result to it. */
  si(...args: unknown[]): Signature<R> {
    return new Signature<R>(this.app, this.name, args, {}, {}, null, true);
  }

  signature(args: unknown[] = [], opts: { kwargs?: Record<string, unknown>; options?: ApplyOptions; immutable?: boolean } = {}): Signature<R> {
    const sig = new Signature<R>(this.app, this.name, args, opts.kwargs ?? {}, {}, null, opts.immutable ?? false);
    if (opts.options) sig.set(opts.options);
    return sig;
  }

  /** One message that runs this task over every item in turn (Celery's `task.map`). */
  map(items: Iterable<unknown>): MapSignature<R> {
    return new MapSignature<R>(this.app, "xmap", this.s(), [...items]);
  }

  /** Like map, each item being an args list (Celery's `task.starmap`). */
  starmap(items: Iterable<unknown[]>): MapSignature<R> {
    return new MapSignature<R>(this.app, "xstarmap", this.s(), [...items]);
  }

  /** The items (args lists) split into parts of n, the parts run in parallel (Celery's `task.chunks`). */
  chunks(items: Iterable<unknown[]>, n: number): Chunks<R> {
    return new Chunks<R>(this.app, this.s(), [...items], n);
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
    };
    return this.fn.apply(ctx, args);
  }
}

function eagerRequest(name: string, args: unknown[]): TaskRequest {
  return {
    id: "eager",
    task: name,
    args,
    kwargs: {},
    retries: 0,
    hostname: "local",
    deliveryInfo: { exchange: "", routing_key: "" },
    eta: null,
    expires: null,
    parentId: null,
    rootId: "eager",
    groupId: null,
    groupIndex: null,
    correlationId: "eager",
    replyTo: null,
    origin: "local",
    timeLimit: [null, null],
    headers: {},
    ignoreResult: true,
    isEager: true,
  };
}
