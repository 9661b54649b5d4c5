// group(a.s(1), a.s(2), …): tasks run in parallel; a GroupResult gathers their
// results in order. Each member carries the `group` and `group_index` headers.
// Wire form (Celery's): {task: "celery.group", kwargs: {tasks: [...]}, subtask_type: "group"}.
import { randomUUID } from "node:crypto";
import type { SignatureDict } from "../protocol/message.js";
import type { ApplyOptions } from "../task.js";
import { addToTrail } from "../trail.js";
import { GroupResult, type GroupMember } from "./group-result.js";
import { Signature, optionsFromWire, stripUndefined, type AnySignature, type FreezeOptions, type SignatureSender } from "./signature.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ValueOf<S> = S extends Signature<infer R, any> ? R : unknown;

export class Group<T = unknown> extends Signature<T[], GroupResult<T>> {
  tasks: AnySignature[];

  constructor(app: SignatureSender | null, tasks: AnySignature[], options: Record<string, unknown> = {}, args: unknown[] = [], immutable = false) {
    super(app ?? tasks.find((t) => t.app)?.app ?? null, "celery.group", args, {}, options, "group", immutable);
    this.tasks = tasks;
  }

  static fromGroupDict(app: SignatureSender | null, d: SignatureDict): Group {
    const tasks = ((d.kwargs?.tasks as SignatureDict[] | undefined) ?? []).map((t) => Signature.fromDict(app, t));
    return new Group(app, tasks, structuredClone(d.options ?? {}), [...(d.args ?? [])], !!d.immutable);
  }

  override toDict(): SignatureDict {
    return { ...super.toDict(), kwargs: { tasks: this.tasks.map((t) => t.toDict()) } };
  }

  /** The members, nested groups flattened (Celery unrolls them: all run in parallel), as copies. */
  unroll(): AnySignature[] {
    const out: AnySignature[] = [];
    for (const t of this.tasks) {
      if (t instanceof Group) out.push(...t.unroll());
      else out.push(t.clone());
    }
    return out;
  }

  /** A signature's `set()` on a group sets the options of every member. */
  override set(options: ApplyOptions & { immutable?: boolean }): this {
    if (options.immutable !== undefined) for (const t of this.tasks) t.set({ immutable: options.immutable });
    return super.set(options);
  }

  /** Errbacks go on every member: any one of them may fail (Celery does the same). */
  override linkError(errback: AnySignature | SignatureDict): AnySignature | SignatureDict {
    for (const t of this.tasks) t.linkError(errback);
    return errback;
  }

  /** Spreads the members out in time: countdown start, start + step, … (capped at stop), as Celery's skew. */
  skew(start = 1, stop: number | null = null, step = 1): this {
    this.tasks.forEach((t, i) => t.set({ countdown: stop === null ? start + i * step : Math.min(stop, start + i * step) }));
    return this;
  }

  override link(): never {
    throw new TypeError("cannot link a callback to a group: use a chord");
  }

  override freeze(opts: FreezeOptions = {}): GroupResult<T> {
    const gid = typeof this.options.task_id === "string" ? this.options.task_id : (this.options.task_id = opts.taskId ?? randomUUID());
    if (opts.rootId) this.options.root_id = opts.rootId;
    // Members are frozen in place, so a group frozen inside a chain keeps its ids when it is sent later.
    const flat: AnySignature[] = [];
    const flatten = (ts: AnySignature[]) => {
      for (const t of ts) {
        if (t instanceof Group) flatten(t.tasks);
        else flat.push(t);
      }
    };
    flatten(this.tasks);
    this.tasks = flat;
    const results = flat.map(
      (t, i) =>
        // No group id of their own yet: it is given when the group is sent (Python's chord
        // makes a new one then, and a member keeps the first group_id it was given).
        t.freeze({ groupId: opts.groupId, groupIndex: i, chord: opts.chord, rootId: opts.rootId, parentId: opts.parentId, sent: opts.sent }) as GroupMember,
    );
    return new GroupResult<T>(gid, results, this.boundApp, opts.sent);
  }

  /** Sends every member; partial args are prepended to each (unless immutable). */
  override applyAsync(args: unknown[] = [], options: ApplyOptions = {}): GroupResult<T> {
    const app = this.boundApp;
    if (options.link) throw new TypeError("cannot link a callback to a group: use a chord");
    if (options.linkError) throw new TypeError("cannot link an errback to a group's apply: set it on the members (group.linkError)");
    const { taskId, chord, kwargs, addToParent, groupId: _g, groupIndex: _i, ...rest } = { ...optionsFromWire(this.options), ...stripUndefined(options) };
    const gid = taskId ?? randomUUID();
    const partial = this.immutable ? this.args : [...args, ...this.args];
    const members = this.unroll();
    const results = members.map((m, i) => {
      m.freeze({ groupId: gid, groupIndex: i, chord: (chord as SignatureDict | null | undefined) ?? undefined, rootId: rest.rootId });
      return m.applyAsync(partial, { ...rest, kwargs, addToParent: false }) as GroupMember;
    });
    const result = new GroupResult<T>(gid, results, app);
    // The sending task's children name the group, not each member (Celery's group.apply_async).
    addToTrail(result, addToParent);
    return result;
  }
}

/** `group(a.s(1), a.s(2))` or `group([a.s(1), a.s(2)])`. */
export function group<S extends AnySignature[]>(...tasks: S | [S]): Group<ValueOf<S[number]>> {
  const list = (tasks.length === 1 && Array.isArray(tasks[0]) ? tasks[0] : tasks) as AnySignature[];
  return new Group(
    null,
    list.map((t) => t.clone()),
  );
}
