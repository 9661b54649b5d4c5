// A signature: a task call frozen as data (name, args, kwargs, options), to be
// sent later or passed inside another message. Its wire form is Celery's dict,
// with Celery's snake_case option names, so Python can read it.
import type { SignatureDict } from "../protocol/message.js";
import type { AsyncResult } from "../result.js";
import type { ApplyOptions } from "../task.js";

/** The part of the app a signature needs to send itself. */
export interface SignatureSender {
  sendTask(name: string, args?: unknown[], kwargs?: Record<string, unknown>, options?: ApplyOptions): AsyncResult;
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
    if (v === undefined || k === "kwargs") continue;
    if (k === "link" || k === "linkError") {
      const list = (Array.isArray(v) ? v : [v]) as (Signature | SignatureDict)[];
      out[toWire[k] ?? k] = list.map((s) => (s instanceof Signature ? s.toDict() : s));
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

export class Signature<R = unknown> {
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

  static fromDict(app: SignatureSender | null, d: SignatureDict): Signature {
    return new Signature(app, d.task, d.args ?? [], d.kwargs ?? {}, { ...d.options }, d.subtask_type ?? null, !!d.immutable);
  }

  /** Merges call options (countdown, queue, priority…) into the signature; returns it. */
  set(options: ApplyOptions): this {
    Object.assign(this.options, optionsToWire(options as Record<string, unknown>));
    return this;
  }

  clone(overrides: { args?: unknown[]; kwargs?: Record<string, unknown>; options?: ApplyOptions } = {}): Signature<R> {
    const s = new Signature<R>(this.app, this.task, [...this.args], { ...this.kwargs }, structuredClone(this.options), this.subtaskType, this.immutable);
    if (overrides.args) s.args = overrides.args;
    if (overrides.kwargs) s.kwargs = { ...s.kwargs, ...overrides.kwargs };
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

  /**
   * Sends the task. Extra args are prepended to the signature's own (Celery's
   * partial application: `add.s(2).delay(4)` runs add(4, 2)); an immutable
   * signature ignores them.
   */
  applyAsync(args: unknown[] = [], options: ApplyOptions = {}): AsyncResult<R> {
    if (!this.app) throw new Error(`signature ${this.task} is not bound to an app`);
    const fullArgs = this.immutable ? this.args : [...args, ...this.args];
    const kwargs = this.immutable ? this.kwargs : { ...this.kwargs, ...options.kwargs };
    const merged = { ...optionsFromWire(this.options), ...options, kwargs: undefined };
    return this.app.sendTask(this.task, fullArgs, kwargs, merged) as AsyncResult<R>;
  }

  delay(...args: unknown[]): AsyncResult<R> {
    return this.applyAsync(args);
  }
}
