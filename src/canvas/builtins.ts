// Celery's built-in canvas tasks, registered on every app so that a Celeriac
// worker can run the messages Python (or Celeriac) sends for map, starmap and
// chunks: `celery.map`, `celery.starmap`, `celery.chunks`.
import type { Celeriac } from "../app.js";
import { TaskNotRegistered } from "../errors.js";
import type { SignatureDict } from "../protocol/message.js";
import { Chunks } from "./chunks.js";
import { Signature } from "./signature.js";

interface MapCall {
  task: SignatureDict | string;
  it: unknown[];
  n?: number;
}

/** Celery sends these with kwargs {task, it[, n]} (one trailing object here); positional calls work too. */
function unpack(args: unknown[], names: string[]): MapCall {
  const last = args[args.length - 1];
  if (args.length === 1 && last && typeof last === "object" && !Array.isArray(last) && "it" in last) return last as MapCall;
  return Object.fromEntries(names.map((n, i) => [n, args[i]])) as unknown as MapCall;
}

function taskName(t: SignatureDict | string): string {
  return typeof t === "string" ? t : t.task;
}

export function registerBuiltinTasks(app: Celeriac): void {
  const lookup = (name: string) => {
    const task = app.tasks.get(name);
    if (!task) throw new TaskNotRegistered(`task ${JSON.stringify(name)} is not registered in this worker (needed by a map/starmap)`);
    return task;
  };
  if (!app.tasks.has("celery.map")) {
    app.task({ name: "celery.map", kwargsAsObject: true }, async (...args: unknown[]) => {
      const { task, it } = unpack(args, ["task", "it"]);
      const t = lookup(taskName(task));
      const out: unknown[] = [];
      for (const item of it ?? []) out.push(await t.call(item));
      return out;
    });
  }
  if (!app.tasks.has("celery.starmap")) {
    app.task({ name: "celery.starmap", kwargsAsObject: true }, async (...args: unknown[]) => {
      const { task, it } = unpack(args, ["task", "it"]);
      const t = lookup(taskName(task));
      const out: unknown[] = [];
      for (const item of it ?? []) out.push(await t.call(...(item as unknown[])));
      return out;
    });
  }
  if (!app.tasks.has("celery.accumulate")) {
    // What a group replacing a task is uplifted to a chord with: the header's results (index 0), or all its arguments.
    app.task({ name: "celery.accumulate", kwargsAsObject: true }, (...args: unknown[]) => {
      const last = args[args.length - 1];
      const index = last && typeof last === "object" && !Array.isArray(last) && "index" in last ? (last as { index: unknown }).index : undefined;
      const values = index === undefined ? args : args.slice(0, -1);
      return typeof index === "number" ? values[index] : values;
    });
  }
  if (!app.tasks.has("celery.chunks")) {
    app.task({ name: "celery.chunks", kwargsAsObject: true }, async (...args: unknown[]) => {
      const { task, it, n } = unpack(args, ["task", "it", "n"]);
      const sig = typeof task === "string" ? new Signature(app, task) : Signature.fromDict(app, task);
      const res = new Chunks(app, sig, it as unknown[][], n ?? 1).applyAsync();
      await res.sent;
      // Celery returns the GroupResult as a tuple: [[group_id, null], [[[task_id, null], null], …]].
      return [[res.id, null], res.results.map((r) => [[r.id, null], null])];
    });
  }
}
