// A signature: a task call frozen as data (name, args, kwargs, options), to be
// sent later or passed inside another message. Its wire form is Celery's dict,
// with Celery's snake_case option names, so Python can read it.
//
// Composite signatures (chain, group, chord, map, chunks) subclass this one;
// the app registers their `subtask_type` (kinds.ts), so `Signature.fromDict`
// rebuilds whatever kind a message carries, as Celery's `signature(dict)` does.
import { randomUUID } from "node:crypto";
import type { ResultBackend } from "../backends/backend.js";
import type { SignatureDict } from "../protocol/message.js";
import { AsyncResult } from "../result.js";
import type { ApplyOptions } from "../task.js";

/** The part of the app a signature needs: sending, and the backend its results live in. */
export interface SignatureSender {
  sendTask(name: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: ApplyOptions): AsyncResult;
  backend(): Promise<ResultBackend>;
  revoke?(taskId: string, opts?: { terminate?: boolean; signal?: string }): Promise<void>;
  /** The producer's reply queue name (Celery's app.thread_oid), written into frozen options as reply_to when known. */
  readonly oid?: string;
  /** Where a task would go (used to route map/starmap messages as the mapped task). */
  route?(name: string, args: unknown[], kwargs: Record<string, unknown>, options?: ApplyOptions): { queue: string; exchange?: string; routingKey?: string };
}

// camelCase API option -> Celery's option key.
const toWire: Record<string, string> = {
  taskId: "task_id",
  replyTo: "reply_to",
  routingKey: "routing_key",
  linkError: "link_error",
  groupId: "group_id",
  groupIndex: "group_index",
  parentId: "parent_id",
  rootId: "root_id",
  timeLimit: "time_limit",
  softTimeLimit: "soft_time_limit",
  ignoreResult: "ignore_result",
  chordSize: "chord_size",
};
const fromWire: Record<string, string> = Object.fromEntries(Object.entries(toWire).map(([k, v]) => [v, k]));

export function optionsToWire(opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    // kwargs travel in the message body; addToParent is the sender's, not the message's.
    if (v === undefined || k === "kwargs" || k === "addToParent") continue;
    if (k === "link" || k === "linkError") {
      const list = (Array.isArray(v) ? v : [v]) as (Signature | SignatureDict)[];
      out[toWire[k] ?? k] = list.map(toDict);
    } else if (v instanceof Date) out[toWire[k] ?? k] = v.toISOString();
    else out[toWire[k] ?? k] = v;
  }
  return out;
}

export function optionsFromWire(opts: Record<string, unknown>): ApplyOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts ?? {})) out[fromWire[k] ?? k] = v;
  return out as ApplyOptions;
}

/** A signature object or its dict, as a dict. */
export function toDict(s: AnySignature | SignatureDict): SignatureDict {
  return s instanceof Signature ? s.toDict() : s;
}

/**
 * What freezing fixes before a signature is sent: its ids, and where it sits
 * in a workflow (Celery's `freeze(_id, group_id, chord, root_id, parent_id, group_index)`).
 */
export interface FreezeOptions {
  taskId?: string;
  groupId?: string;
  groupIndex?: number;
  /** The chord callback this task (or the last task of this chain) completes a part of. */
  chord?: SignatureDict | null;
  rootId?: string;
  parentId?: string;
  /** Resolves when the workflow's first message is in the broker (the handles' `sent`). */
  sent?: Promise<void>;
}

/** A result handle: one task's AsyncResult or a group's GroupResult. */
export interface ResultHandle {
  readonly id: string;
  readonly sent: Promise<void>;
  parent: ResultHandle | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySignature = Signature<any, any>;

type FromDict = (app: SignatureSender | null, d: SignatureDict) => AnySignature;
const types = new Map<string, FromDict>();

export class Signature<R = unknown, H = AsyncResult<R>> {
  constructor(
    readonly app: SignatureSender | null,
    readonly task: string,
    public args: unknown[] = [],
    public kwargs: Record<string, unknown> = {},
    /** Options in Celery's wire form (snake_case). */
    public options: Record<string, unknown> = {},
    public subtaskType: string | null = null,
    public immutable = false,
  ) {}

  /** Registers a composite kind (Celery's `Signature.register_type`). */
  static registerType(subtaskType: string, fromDict: FromDict): void {
    types.set(subtaskType, fromDict);
  }

  /** Rebuilds a signature of the right kind from Celery's dict form. */
  static fromDict(app: SignatureSender | null, d: SignatureDict): AnySignature {
    const make = d.subtask_type ? types.get(d.subtask_type) : undefined;
    if (make) return make(app, d);
    return new Signature(app, d.task, [...(d.args ?? [])], { ...d.kwargs }, structuredClone(d.options ?? {}), d.subtask_type ?? null, !!d.immutable);
  }

  /** The preassigned task id, once frozen. */
  get id(): string | undefined {
    return this.options.task_id as string | undefined;
  }

  /** Merges call options (countdown, queue, priority…) into the signature; returns it. */
  set(options: ApplyOptions & { immutable?: boolean }): this {
    const { immutable, ...rest } = options;
    if (immutable !== undefined) this.immutable = immutable;
    Object.assign(this.options, optionsToWire(rest as Record<string, unknown>));
    return this;
  }

  /** Adds a callback, applied with this task's result when it succeeds. */
  link(callback: AnySignature | SignatureDict): AnySignature | SignatureDict {
    this.appendOption("link", toDict(callback));
    return callback;
  }

  /** Adds an errback, applied with this task's id when it fails. */
  linkError(errback: AnySignature | SignatureDict): AnySignature | SignatureDict {
    this.appendOption("link_error", toDict(errback));
    return errback;
  }

  protected appendOption(key: string, value: SignatureDict): void {
    const list = Array.isArray(this.options[key]) ? (this.options[key] as SignatureDict[]) : [];
    this.options[key] = [...list, value];
  }

  /** A copy; partial args are prepended (unless immutable), kwargs and options merged. */
  clone(overrides: { args?: unknown[]; kwargs?: Record<string, unknown>; options?: ApplyOptions } = {}): this {
    const s = Signature.fromDict(this.app, structuredClone(this.toDict())) as this;
    if (!s.immutable && overrides.args?.length) s.args = [...overrides.args, ...s.args];
    if (!s.immutable && overrides.kwargs) s.kwargs = { ...s.kwargs, ...overrides.kwargs };
    if (overrides.options) s.set(overrides.options);
    return s;
  }

  toDict(): SignatureDict {
    return {
      task: this.task,
      args: this.args,
      kwargs: this.kwargs,
      options: this.options,
      subtask_type: this.subtaskType,
      immutable: this.immutable,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  protected get boundApp(): SignatureSender {
    if (!this.app) throw new Error(`signature ${this.task} is not bound to an app`);
    return this.app;
  }

  /**
   * Fixes the task id (and workflow place) in the options, so the result is
   * known before anything is sent. An id set earlier wins, as in Celery.
   */
  freeze(opts: FreezeOptions = {}): H {
    const o = this.options;
    if (typeof o.task_id !== "string") o.task_id = opts.taskId ?? randomUUID();
    if (opts.rootId) o.root_id = opts.rootId;
    if (opts.parentId) o.parent_id = opts.parentId;
    if (opts.groupId && !o.group_id) o.group_id = opts.groupId;
    if (opts.chord) o.chord = opts.chord;
    if (opts.groupIndex !== undefined) o.group_index = opts.groupIndex;
    if (o.reply_to === undefined && this.app?.oid) o.reply_to = this.app.oid;
    return new AsyncResult(o.task_id as string, this.boundApp, opts.sent) as H;
  }

  /**
   * Sends the task. Extra args are prepended to the signature's own (Celery's
   * partial application: `add.s(2).delay(4)` runs add(4, 2)); an immutable
   * signature ignores them.
   */
  applyAsync(args: unknown[] = [], options: ApplyOptions = {}): H {
    const app = this.boundApp;
    const fullArgs = this.immutable ? this.args : [...args, ...this.args];
    const kwargs = this.immutable ? this.kwargs : { ...this.kwargs, ...options.kwargs };
    const merged = { ...optionsFromWire(this.options), ...stripUndefined(options), kwargs: undefined };
    return app.sendTask(this.task, fullArgs, kwargs, merged) as H;
  }

  delay(...args: unknown[]): H {
    return this.applyAsync(args);
  }
}

export function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A promise with its resolve/reject, for result handles made before their message is sent. */
export function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
