// chunks(task, items, n): the items split into parts of n, each part one
// starmap message, all parts sent as a group (Celery's chunks). Returns a
// GroupResult whose values are the parts' lists of results.
// Wire form (Celery's): {task: "celery.chunks", kwargs: {task: <sig>, it: [...], n}, subtask_type: "chunks", immutable: true}.
import type { SignatureDict } from "../protocol/message.js";
import type { ApplyOptions } from "../task.js";
import { Group } from "./group.js";
import type { GroupResult } from "./group-result.js";
import { MapSignature } from "./map.js";
import { Signature, type AnySignature, type SignatureSender } from "./signature.js";

export class Chunks<R = unknown> extends Signature<R[][], GroupResult<R[]>> {
  constructor(
    app: SignatureSender | null,
    readonly mapped: AnySignature,
    readonly items: unknown[][],
    readonly n: number,
    options: Record<string, unknown> = {},
  ) {
    super(app ?? mapped.app, "celery.chunks", [], { task: mapped.toDict(), it: items, n }, options, "chunks", true);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`chunk size must be a positive integer, got ${n}`);
  }

  static fromChunksDict(app: SignatureSender | null, d: SignatureDict): Chunks {
    const kw = (d.kwargs ?? {}) as { task?: SignatureDict | string; it?: unknown[][]; n?: number };
    const mapped = typeof kw.task === "string" ? new Signature(app, kw.task) : Signature.fromDict(app, kw.task ?? ({} as SignatureDict));
    return new Chunks(app, mapped, [...(kw.it ?? [])], kw.n ?? 1, structuredClone(d.options ?? {}));
  }

  /** The group of starmap signatures, one per part. */
  group(): Group<R[]> {
    const parts: MapSignature<R>[] = [];
    for (let i = 0; i < this.items.length; i += this.n) {
      parts.push(new MapSignature<R>(this.app, "xstarmap", this.mapped, this.items.slice(i, i + this.n)));
    }
    return new Group<R[]>(this.app, parts, structuredClone(this.options));
  }

  override applyAsync(args: unknown[] = [], options: ApplyOptions = {}): GroupResult<R[]> {
    return this.group().applyAsync(args, options);
  }
}

/** `chunks(add.s(), [[1, 2], [3, 4], …], 10)`: every item is an args list. */
export function chunks<R>(task: Signature<R, unknown> | { s(): Signature<R, unknown> }, items: unknown[][], n: number): Chunks<R> {
  const sig = task instanceof Signature ? task : task.s();
  return new Chunks<R>(null, sig, items, n);
}
