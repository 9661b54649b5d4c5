// chain(a.s(1), b.s(), c.s()): each task's result is prepended to the next
// one's args (unless immutable). Only the first message is sent; it carries the
// rest in `embed.chain`, REVERSED (the worker pops the next step off the end),
// every step frozen with its task id, so all results are known up front.
// Wire form (Celery's): {task: "celery.chain", kwargs: {tasks: [...]}, subtask_type: "chain"}.
import type { SignatureDict } from "../protocol/message.js";
import type { ApplyOptions } from "../task.js";
import { Chord } from "./chord.js";
import { Group } from "./group.js";
import {
  Signature,
  deferred,
  optionsFromWire,
  stripUndefined,
  toDict,
  type AnySignature,
  type FreezeOptions,
  type ResultHandle,
  type SignatureSender,
} from "./signature.js";

type Last<T extends unknown[]> = T extends [...unknown[], infer L] ? L : T[number];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ValueOf<S> = S extends Signature<infer R, any> ? R : unknown;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type HandleOf<S> = S extends Signature<any, infer H> ? H : unknown;

export class Chain<R = unknown, H = unknown> extends Signature<R, H> {
  tasks: AnySignature[];

  constructor(app: SignatureSender | null, tasks: AnySignature[], options: Record<string, unknown> = {}, args: unknown[] = [], immutable = false) {
    super(app ?? tasks.find((t) => t.app)?.app ?? null, "celery.chain", args, {}, options, "chain", immutable);
    this.tasks = tasks;
  }

  static fromChainDict(app: SignatureSender | null, d: SignatureDict): Chain {
    const tasks = ((d.kwargs?.tasks as SignatureDict[] | undefined) ?? []).map((t) => Signature.fromDict(app, t));
    return new Chain(app, tasks, structuredClone(d.options ?? {}), [...(d.args ?? [])], !!d.immutable);
  }

  override toDict(): SignatureDict {
    return { ...super.toDict(), kwargs: { tasks: this.tasks.map((t) => t.toDict()) } };
  }

  /**
   * Freezes every step, last first (Celery's prepare_steps): nested chains are
   * spliced in, a group followed by a step becomes a chord with that step as
   * its callback, and each result's `parent` is the step before. Returns the
   * steps in reverse order (the wire order of `embed.chain`) and their results.
   */
  private prepareSteps(
    args: unknown[],
    opts: FreezeOptions & { linkError?: SignatureDict[]; kwargs?: Record<string, unknown> },
    copy: boolean,
  ): { steps: AnySignature[]; results: ResultHandle[] } {
    const pending = [...this.tasks];
    const steps: AnySignature[] = [];
    const results: ResultHandle[] = [];
    let prevTask: AnySignature | null = null;
    let prevRes: ResultHandle | null = null;
    while (pending.length) {
      let task = pending.pop()!;
      if (task instanceof Chain) {
        // Splice a nested chain; its own partial args belong to its first step
        // (which, if it starts this chain, gets this chain's args when it is popped).
        const nested = task;
        pending.push(...nested.tasks.map((t, i) => (i === 0 && nested.args.length ? t.clone({ args: nested.args }) : t)));
        continue;
      }
      const isFirst = pending.length === 0;
      const isLast = steps.length === 0;
      if (copy) task = isFirst ? task.clone({ args, kwargs: opts.kwargs }) : task.clone();
      let replaced: ResultHandle | null = null;
      if (task instanceof Group && prevTask && prevRes) {
        // group | task -> chord(group, task): the callback keeps the id it was frozen with.
        steps.pop();
        replaced = results.pop() ?? null;
        task = new Chord(this.app, task, prevTask, { task_id: prevRes.id });
      }
      let res = (
        isLast
          ? task.freeze({ taskId: opts.taskId, rootId: opts.rootId, groupId: opts.groupId, groupIndex: opts.groupIndex, chord: opts.chord, sent: opts.sent })
          : task.freeze({ rootId: opts.rootId, sent: opts.sent })
      ) as ResultHandle;
      if (replaced && replaced.id === res.id) {
        // Later steps already point at the callback's handle: keep it, now with the header behind it.
        replaced.parent = res.parent;
        res = replaced;
      }
      if (prevRes && !prevRes.parent) prevRes.parent = res;
      for (const eb of opts.linkError ?? []) task.linkError(eb);
      steps.push(task);
      results.push(res);
      prevTask = task;
      prevRes = res;
      if (task instanceof Chord) {
        // The step before a chord is the parent of the chord's header, not of its callback.
        let node: ResultHandle = res;
        while (node.parent) node = node.parent;
        prevRes = node;
      }
    }
    return { steps, results };
  }

  /** Fixes every step's id in place; returns the last step's result (parents lead back to the first). */
  override freeze(opts: FreezeOptions = {}): H {
    const { results } = this.prepareSteps([], opts, false);
    if (!results.length) throw new TypeError("cannot freeze an empty chain");
    return results[0] as H;
  }

  /** Sends the first step; returns the last step's result, with `parent` links back to the first. */
  override applyAsync(args: unknown[] = [], options: ApplyOptions = {}): H {
    if (!this.tasks.length) throw new TypeError("cannot apply an empty chain");
    const merged = { ...optionsFromWire(this.options), ...stripUndefined(options) };
    const { taskId, groupId, groupIndex, chord, link, linkError, rootId, parentId, chain: outerRest, kwargs, ...rest } = merged;
    const partial = args.length && !this.immutable ? [...args, ...this.args] : this.args;
    const sent = deferred();
    const { steps, results } = this.prepareSteps(
      partial,
      {
        taskId,
        groupId,
        groupIndex,
        chord: chord as SignatureDict | null | undefined,
        rootId,
        sent: sent.promise,
        kwargs,
        linkError: linkError ? (Array.isArray(linkError) ? linkError : [linkError]).map(toDict) : undefined,
      },
      true,
    );
    if (link) for (const cb of Array.isArray(link) ? link : [link]) steps[0]!.link(cb);
    const first = steps.pop()!;
    // Steps that follow this chain (it was itself a step of an outer chain) run after it: they go first in reversed order.
    const chain = [...((outerRest as SignatureDict[] | null | undefined) ?? []), ...steps.map((s) => s.toDict())];
    const handle = first.applyAsync([], { ...rest, rootId, parentId, chain: chain.length ? chain : null }) as ResultHandle;
    handle.sent.then(sent.resolve, sent.reject);
    return (steps.length ? results[0] : handle) as H;
  }
}

/** `chain(a.s(1), b.s(), c.s())` or `chain([a.s(1), b.s()])`: the result is the last task's. */
export function chain<S extends AnySignature[]>(...tasks: S | [S]): Chain<ValueOf<Last<S>>, HandleOf<Last<S>>> {
  const list = (tasks.length === 1 && Array.isArray(tasks[0]) ? tasks[0] : tasks) as AnySignature[];
  return new Chain(
    null,
    list.map((t) => t.clone()),
  );
}
