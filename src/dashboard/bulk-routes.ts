// The dashboard's bulk actions: retry every failed task the current filter
// finds, revoke every waiting task of one name, and clean finished tasks older
// than N seconds out of the history (and the live view).
import type { TaskState } from "../events/state.js";
import { FINISHED, taskTime } from "./history.js";
import { HttpError } from "./http.js";
import type { ApiRequest, RouteContext, RouteGroup } from "./routes.js";
import { resendTask, taskFilterOf } from "./tasks.js";

/** The most tasks one bulk retry sends (the list's own page limit). */
const MAX_BULK = 1000;
/** States of a task sent and not started yet. */
const WAITING = ["PENDING", "RECEIVED", "RETRY"];

export class BulkRoutes implements RouteGroup {
  constructor(private readonly ctx: RouteContext) {}

  handle(req: ApiRequest): Promise<unknown> | null {
    if (req.method !== "POST") return null;
    if (req.path === "/api/bulk/retry-failed") return this.retryFailed(req.body);
    if (req.path === "/api/bulk/revoke-waiting") return this.revokeWaiting(req.body);
    if (req.path === "/api/bulk/clean") return this.clean(req.body);
    return null;
  }

  /** The failed tasks that the list's filter (search, name, worker, since, until in the body) finds. */
  private failed(body: Record<string, unknown>): TaskState[] {
    const q = new URLSearchParams({ limit: String(MAX_BULK) });
    for (const k of ["search", "name", "worker", "since", "until"]) {
      const v = body[k];
      if (typeof v === "string" || typeof v === "number") q.set(k, String(v));
    }
    const filter = { ...taskFilterOf(new URL(`http://dashboard/?${q}`)), state: "FAILURE" };
    const { history, cluster } = this.ctx;
    if (!history) return cluster.state.tasksList(filter);
    this.ctx.saveHistory();
    return history.list(filter).tasks;
  }

  private async retryFailed(body: Record<string, unknown>): Promise<unknown> {
    const sent: string[] = [];
    const errors: { id: string; error: string }[] = [];
    for (const t of this.failed(body)) {
      try {
        sent.push((await resendTask(this.ctx.app, this.ctx.cluster.state, t.uuid)).id as string);
      } catch (err) {
        errors.push({ id: t.uuid, error: (err as Error).message });
      }
    }
    return { ok: errors.length === 0, retried: sent.length, ids: sent, errors };
  }

  private async revokeWaiting(body: Record<string, unknown>): Promise<unknown> {
    const name = typeof body.task === "string" ? body.task.trim() : "";
    if (!name) throw new HttpError(400, "name the task (task)");
    const { app, cluster } = this.ctx;
    const ids = new Set<string>();
    for (const t of cluster.state.tasks.values()) if (t.name === name && WAITING.includes(t.state)) ids.add(t.uuid);
    // Those waiting for an ETA are in the broker even when no event told of them (sent without task-sent events).
    const broker = this.ctx.broker();
    const scheduled: [string, string][] = [];
    if (broker.scheduled) {
      for (const queue of cluster.queueNames()) {
        for (const s of (await broker.scheduled(queue, MAX_BULK)).messages) {
          const id = s.message.headers.id;
          if (s.message.headers.task === name && typeof id === "string") {
            ids.add(id);
            scheduled.push([queue, id]);
          }
        }
      }
    }
    if (!ids.size) return { ok: true, revoked: 0 };
    const replies = await app.control.revoke([...ids], { reply: true, timeout: 2000, limit: cluster.onlineCount() || undefined });
    // Handed to workers now, which skip them and report REVOKED, instead of at their ETA (only when a worker heard the revoke).
    if (replies.length) for (const [queue, id] of scheduled) await broker.releaseScheduled?.(queue, id);
    return { ok: true, revoked: ids.size };
  }

  private async clean(body: Record<string, unknown>): Promise<unknown> {
    const age = Number(body.olderThanSeconds);
    if (!Number.isFinite(age) || age < 0) throw new HttpError(400, "olderThanSeconds must be a number of seconds, 0 or more");
    const before = Date.now() / 1000 - age;
    const tasks = this.ctx.cluster.state.tasks;
    let removed = 0;
    for (const [id, t] of tasks) {
      if (FINISHED.includes(t.state) && taskTime(t) < before) {
        tasks.delete(id);
        removed++;
      }
    }
    if (this.ctx.history) {
      this.ctx.saveHistory();
      removed = Math.max(removed, this.ctx.history.cleanFinished(before));
    }
    return { ok: true, removed };
  }
}
