// chord(header, callback): the header tasks run in parallel; when every one
// has finished, the callback runs once with their results in header order.
//
// Each header task carries the callback in `embed.chord` (with `chord_size`,
// as newer Celery sends it) and the `group`/`group_index` headers; the worker
// that stores the last part applies the callback (see chord-join.ts). The size
// is also recorded with the backend's setChordSize when it has one (Redis: the
// `.s` key that Python workers read).
// Wire form (Celery's): {task: "celery.chord", kwargs: {kwargs: {}, header: <group>, body: <sig>}, subtask_type: "chord"}.
import { randomUUID } from "node:crypto";
import { ConfigurationError } from "../errors.js";
import type { SignatureDict } from "../protocol/message.js";
import type { ApplyOptions } from "../task.js";
import { Group } from "./group.js";
import { addToTrail } from "../trail.js";
import { GroupResult, type GroupMember } from "./group-result.js";
import {
  Signature,
  deferred,
  optionsFromWire,
  stripUndefined,
  type AnySignature,
  type FreezeOptions,
  type ResultHandle,
  type SignatureSender,
} from "./signature.js";

/** What chordSize needs of a chain: its steps (chain.ts imports this module, so not the class). */
interface StepList {
  tasks: readonly AnySignature[];
}

/** How many chord parts a header member completes (Celery's `_chord._descend`). */
export function chordSize(sig: AnySignature): number {
  if (sig instanceof Group) return sig.tasks.reduce((n, t) => n + chordSize(t), 0);
  if (sig.subtaskType === "chain") {
    const { tasks } = sig as unknown as StepList;
    for (let i = tasks.length - 1; i >= 0; i--) {
      const n = chordSize(tasks[i]!);
      if (n > 0) return n;
    }
    return 0;
  }
  if (sig instanceof Chord) return sig.body ? chordSize(sig.body) : 0;
  return 1;
}

export class Chord<R = unknown, H = unknown> extends Signature<R, H> {
  header: Group;
  body: AnySignature | null;

  constructor(
    app: SignatureSender | null,
    header: Group | AnySignature[],
    body: AnySignature | null,
    options: Record<string, unknown> = {},
    args: unknown[] = [],
    immutable = false,
  ) {
    const g = header instanceof Group ? header : new Group(app, header);
    super(app ?? g.app ?? body?.app ?? null, "celery.chord", args, {}, options, "chord", immutable);
    this.header = g;
    this.body = body;
  }

  static fromChordDict(app: SignatureSender | null, d: SignatureDict): Chord {
    const kw = (d.kwargs ?? {}) as { header?: SignatureDict | SignatureDict[]; body?: SignatureDict | null };
    // Celery writes the header as a list of signatures, or as a group once frozen.
    const raw = kw.header ?? [];
    let header: Group;
    if (Array.isArray(raw))
      header = new Group(
        app,
        raw.map((t) => Signature.fromDict(app, t)),
      );
    else {
      const h = Signature.fromDict(app, raw);
      header = h instanceof Group ? h : new Group(app, [h]);
    }
    const body = kw.body ? Signature.fromDict(app, kw.body) : null;
    return new Chord(app, header, body, structuredClone(d.options ?? {}), [...(d.args ?? [])], !!d.immutable);
  }

  override toDict(): SignatureDict {
    return { ...super.toDict(), kwargs: { kwargs: {}, header: this.header.toDict(), body: this.body ? this.body.toDict() : null } };
  }

  private requireBody(): AnySignature {
    if (!this.body) throw new TypeError("a chord needs a callback: chord(header, callback)");
    return this.body;
  }

  /** The callback as header tasks carry it: frozen, with the chord's size. */
  private static embedded(body: AnySignature, size: number): SignatureDict {
    return { ...structuredClone(body.toDict()), chord_size: size };
  }

  override link(callback: AnySignature | SignatureDict): AnySignature | SignatureDict {
    return this.requireBody().link(callback);
  }

  override linkError(errback: AnySignature | SignatureDict): AnySignature | SignatureDict {
    return this.requireBody().linkError(errback);
  }

  /** Fixes ids in place: the callback's result, whose root `parent` is the header's GroupResult. */
  override freeze(opts: FreezeOptions = {}): H {
    const body = this.requireBody();
    const bodyRes = body.freeze({
      taskId: opts.taskId,
      rootId: opts.rootId,
      groupId: opts.groupId,
      groupIndex: opts.groupIndex,
      chord: opts.chord,
      sent: opts.sent,
    }) as ResultHandle;
    if (typeof this.header.options.task_id !== "string") this.header.options.task_id = randomUUID();
    const headerRes = this.header.freeze({
      rootId: opts.rootId,
      parentId: opts.parentId,
      chord: Chord.embedded(body, chordSize(this.header)),
      sent: opts.sent,
    });
    rootOf(bodyRes).parent = headerRes as unknown as ResultHandle;
    this.options.task_id = bodyRes.id;
    return bodyRes as H;
  }

  /** Sends the header tasks; returns the callback's result (its root `parent` is the header's GroupResult). */
  override applyAsync(args: unknown[] = [], options: ApplyOptions = {}): H {
    const app = this.boundApp;
    const body = this.requireBody().clone();
    const header = this.header.clone();
    const merged = { ...optionsFromWire(this.options), ...stripUndefined(options) };
    const { taskId, kwargs, addToParent, ...bodyOpts } = merged;
    // The chord's options go to the callback (chain, parent, route…), as in Celery; the
    // header gets the routing ones but never the callback's place in a workflow.
    const { chain: _c, chord: _ch, link: _l, linkError: _le, groupId: _g, groupIndex: _gi, ...headerOpts } = bodyOpts;
    body.set(bodyOpts);
    const partial = [...(this.immutable ? [] : args), ...this.args, ...header.args];
    const gid = typeof header.options.task_id === "string" ? header.options.task_id : randomUUID();
    const rootId = (body.options.root_id as string | undefined) ?? undefined;
    const sent = deferred();
    const bodyRes = body.freeze({ taskId, rootId, sent: sent.promise }) as ResultHandle;
    const members = header.unroll();
    const size = members.reduce((n, m) => n + chordSize(m), 0);
    const callback = Chord.embedded(body, size);
    const memberResults = members.map((m, i) => m.freeze({ groupId: gid, groupIndex: i, chord: callback, rootId, sent: sent.promise }));
    const headerRes = new GroupResult(gid, memberResults as GroupMember[], app, sent.promise);
    rootOf(bodyRes).parent = headerRes as unknown as ResultHandle;
    // The sending task's children name the header's GroupResult (Celery's chord.run applies the header as a group).
    if (members.length) addToTrail(headerRes, addToParent);

    const sending = (async () => {
      const backend = await app.backend();
      if (backend.supportsChords === false) {
        throw new ConfigurationError(`the result backend ${backend.displayUrl} does not support chords (use redis://, sqlite:// or another backend that does)`);
      }
      if (!members.length) {
        // No header task will ever complete the chord: call back at once with no results.
        await (body.applyAsync([[]], { kwargs, addToParent }) as ResultHandle).sent;
        return;
      }
      // As Celery's Redis apply_chord: a header with a member that is a group (a chain
      // ending in one) is saved, so whoever completes the chord gives that member its list.
      if (memberResults.some((r) => r instanceof GroupResult)) await backend.saveGroup(gid, headerRes.asTuple()[1] ?? []);
      await backend.setChordSize?.(gid, size);
      const handles = members.map((m) => m.applyAsync(partial, { ...headerOpts, kwargs, addToParent: false }) as ResultHandle);
      await Promise.all(handles.map((h) => h.sent));
    })();
    sending.then(sent.resolve, sent.reject);
    return bodyRes as H;
  }
}

function rootOf(res: ResultHandle): ResultHandle {
  let node = res;
  const seen = new Set<string>();
  while (node.parent && !seen.has(node.id)) {
    seen.add(node.id);
    node = node.parent;
  }
  return node;
}

/**
 * `chord([a.s(1), a.s(2)], tsum.s())`: the callback's result, once every
 * header task finished. As Celery's `_maybe_group`, a chain given as the
 * header stands for its tasks (run in parallel) and any other signature for
 * a header of one.
 */
export function chord<R, H>(header: Group | AnySignature[] | AnySignature, body: Signature<R, H>): Chord<R, H> {
  if (header instanceof Group) return new Chord<R, H>(null, header.clone(), body.clone());
  const tasks = Array.isArray(header) ? header : header.subtaskType === "chain" ? (header as unknown as StepList).tasks : [header];
  return new Chord<R, H>(
    null,
    new Group(
      null,
      tasks.map((t) => t.clone()),
    ),
    body.clone(),
  );
}
