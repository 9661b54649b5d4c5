// The dashboard's task views and actions: a task's row in the list, the list's
// filter from the query string, a task's detail page (events joined with its
// stored result), and sending a task again.
import type { Celeriac } from "../app.js";
import type { State, TaskFilter, TaskState } from "../events/state.js";
import { parsePythonLiteral } from "../protocol/literal.js";
import { HttpError } from "./http.js";

const MAX_LIST = 1000;
const DEFAULT_LIST = 200;

/** A task's row: long argument and result reprs cut short. */
export function taskSummary(t: TaskState): Record<string, unknown> {
  const cut = (s: string | null, n = 300) => (s && s.length > n ? `${s.slice(0, n - 1)}…` : s);
  return {
    uuid: t.uuid,
    name: t.name,
    state: t.state,
    worker: t.worker,
    args: cut(t.args),
    kwargs: cut(t.kwargs),
    result: cut(t.result),
    exception: cut(t.exception),
    runtime: t.runtime,
    retries: t.retries,
    sent: t.sent,
    received: t.received,
    started: t.started,
    timestamp: t.timestamp,
  };
}

export function taskFilterOf(url: URL): TaskFilter {
  const p = url.searchParams;
  // A number that is not one (?limit=abc) is as good as absent.
  const num = (k: string) => {
    const v = p.get(k) ? Number(p.get(k)) : NaN;
    return Number.isFinite(v) ? v : undefined;
  };
  return {
    name: p.get("name") || undefined,
    state: p.get("state") || undefined,
    worker: p.get("worker") || undefined,
    search: p.get("search") || undefined,
    since: num("since"),
    until: num("until"),
    limit: Math.max(1, Math.min(MAX_LIST, Math.floor(num("limit") ?? DEFAULT_LIST))),
  };
}

/** A Python repr from an event (`(2, 3)`, `{'a': 1}`) as JSON, or null when it is not a plain literal. */
function reprAsJson(text: string | null, asList: boolean): unknown {
  if (text === null) return null;
  try {
    const v = parsePythonLiteral(text);
    return asList && !Array.isArray(v) ? [v] : v;
  } catch {
    return null;
  }
}

/**
 * A task as events, the history and the result backend know it: arguments and
 * result as JSON, its retries, progress, logs, parent, root and children, and
 * one traceback (the stored one, else the event's; none once it succeeded).
 */
export async function taskDetail(app: Celeriac, state: State, id: string, kept?: (id: string) => TaskState | null): Promise<Record<string, unknown>> {
  const t = state.tasks.get(id) ?? kept?.(id) ?? null;
  const backend = await app.backend();
  const meta = await backend.get(id).catch(() => null);
  if (!t && !meta) throw new HttpError(404, `no task ${id} in events, history or results`);
  const logs = (await backend.getLog?.(id).catch(() => null)) ?? [];
  const brief = (x: string) => {
    const o = state.tasks.get(x);
    return { uuid: x, name: o?.name ?? null, state: o?.state ?? null };
  };
  const children = new Set<string>(t?.children ?? []);
  for (const c of meta?.children ?? []) {
    // Celery stores children as [[id, parent], null] tuples.
    const cid = Array.isArray(c) && Array.isArray(c[0]) ? c[0][0] : typeof c === "string" ? c : null;
    if (typeof cid === "string") children.add(cid);
  }
  const status = meta?.status ?? t?.state ?? "PENDING";
  const failed = status === "FAILURE" || status === "RETRY" || status === "REVOKED" || t?.state === "FAILURE";
  return {
    task: t,
    args: Array.isArray(meta?.args) ? meta.args : reprAsJson(t?.args ?? null, true),
    kwargs: meta?.kwargs && typeof meta.kwargs === "object" ? meta.kwargs : reprAsJson(t?.kwargs ?? null, false),
    progress: meta?.status === "PROGRESS" ? (meta.result ?? null) : null,
    attempts: (t?.attempts as unknown[] | undefined) ?? [],
    logs,
    traceback: failed ? (meta?.traceback ?? t?.traceback ?? null) : null,
    result: meta
      ? {
          status: meta.status,
          result: meta.result ?? null,
          traceback: meta.traceback ?? null,
          date_done: meta.date_done ?? null,
          args: meta.args ?? null,
          kwargs: meta.kwargs ?? null,
        }
      : null,
    parent: t?.parent_id ? brief(t.parent_id) : meta?.parent_id ? brief(meta.parent_id) : null,
    root: t?.root_id && t.root_id !== id ? brief(t.root_id) : null,
    children: [...children].map(brief),
  };
}

/** Sends the task again with the same arguments (a new task id). */
export async function resendTask(app: Celeriac, state: State, id: string): Promise<Record<string, unknown>> {
  const t = state.tasks.get(id);
  const meta = await (await app.backend()).get(id).catch(() => null);
  const name = t?.name ?? (typeof meta?.name === "string" ? meta.name : null);
  if (!name) throw new HttpError(404, `task ${id}: its name is not known, so it cannot be sent again`);
  let args: unknown[];
  let kwargs: Record<string, unknown>;
  if (Array.isArray(meta?.args)) {
    args = meta.args;
    kwargs = (meta.kwargs as Record<string, unknown>) ?? {};
  } else {
    try {
      const a = parsePythonLiteral(t?.args ?? "()");
      const k = parsePythonLiteral(t?.kwargs ?? "{}");
      args = Array.isArray(a) ? a : [a];
      kwargs = k && typeof k === "object" && !Array.isArray(k) ? (k as Record<string, unknown>) : {};
    } catch (err) {
      throw new HttpError(409, `the arguments of ${id} cannot be recovered (${(err as Error).message}); enable resultExtended to keep them`);
    }
  }
  const r = app.sendTask(name, args, kwargs, t?.queue ? { queue: t.queue } : {});
  await r.sent;
  app.log.info(`dashboard: task ${name}[${id}] sent again as ${r.id}`);
  return { ok: true, id: r.id, name };
}
