// task.map(items) / task.starmap(items): one message that runs the task over
// every item, in order, inside a single worker task (Celery's xmap/xstarmap:
// not parallel — use a group or chunks for that). The built-in tasks
// `celery.map` and `celery.starmap` (builtins.ts) do the work.
// Wire form (Celery's): {task: "celery.map", kwargs: {task: <sig>, it: [...]}, subtask_type: "xmap", immutable: true}.
import type { SignatureDict } from "../protocol/message.js";
import type { AsyncResult } from "../result.js";
import type { ApplyOptions } from "../task.js";
import { Signature, optionsFromWire, stripUndefined, type AnySignature, type SignatureSender } from "./signature.js";

export type MapKind = "xmap" | "xstarmap";

const taskNames: Record<MapKind, string> = { xmap: "celery.map", xstarmap: "celery.starmap" };

export class MapSignature<R = unknown> extends Signature<R[], AsyncResult<R[]>> {
  constructor(
    app: SignatureSender | null,
    readonly kind: MapKind,
    readonly mapped: AnySignature,
    readonly items: unknown[],
    options: Record<string, unknown> = {},
  ) {
    super(app ?? mapped.app, taskNames[kind], [], { task: mapped.toDict(), it: items }, options, kind, true);
  }

  static fromMapDict(kind: MapKind) {
    return (app: SignatureSender | null, d: SignatureDict): MapSignature => {
      const kw = (d.kwargs ?? {}) as { task?: SignatureDict | string; it?: unknown[] };
      const mapped = typeof kw.task === "string" ? new Signature(app, kw.task) : Signature.fromDict(app, kw.task ?? ({} as SignatureDict));
      return new MapSignature(app, kind, mapped, [...(kw.it ?? [])], structuredClone(d.options ?? {}));
    };
  }

  /** Routed as the mapped task would be (Celery's route_name), unless a queue is given. */
  override applyAsync(_args: unknown[] = [], options: ApplyOptions = {}): AsyncResult<R[]> {
    const app = this.boundApp;
    const merged = { ...optionsFromWire(this.options), ...stripUndefined(options), kwargs: undefined };
    if (!merged.queue && app.route) {
      const r = app.route(this.mapped.task, [], {}, merged);
      merged.queue = r.queue;
      merged.routingKey ??= r.routingKey;
      merged.exchange ??= r.exchange;
    }
    return app.sendTask(this.task, [], { task: this.mapped.toDict(), it: this.items }, merged) as AsyncResult<R[]>;
  }
}
