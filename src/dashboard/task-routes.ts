// The dashboard's task routes: the list (from the history, paged and
// searched, else from memory), one task's detail, and revoke or retry of one.
import { params, type ApiRequest, type RouteContext, type RouteGroup } from "./routes.js";
import { resendTask, taskDetail, taskFilterOf, taskSummary } from "./tasks.js";

export class TaskRoutes implements RouteGroup {
  constructor(private readonly ctx: RouteContext) {}

  handle(req: ApiRequest): Promise<unknown> | null {
    const { method, path } = req;
    const { app, cluster, history } = this.ctx;
    if (method === "GET" && path === "/api/tasks") return Promise.resolve(this.list(req.url));
    const detail = params(/^\/api\/tasks\/([\w.:-]+)$/, path);
    if (method === "GET" && detail) return taskDetail(app, cluster.state, detail[0]!, (id) => history?.get(id) ?? null);
    const action = params(/^\/api\/tasks\/([\w.:-]+)\/(revoke|retry)$/, path);
    if (method !== "POST" || !action) return null;
    if (action[1] === "retry") return resendTask(app, cluster.state, action[0]!);
    return this.revoke(action[0]!, req.body.terminate === true);
  }

  private async revoke(id: string, terminate: boolean): Promise<unknown> {
    const replies = await this.ctx.app.control.revoke(id, { terminate, reply: true, timeout: 1500, limit: this.ctx.cluster.onlineCount() || undefined });
    return { ok: true, replies };
  }

  /** A page of the task list: from the history (saved first, so it is current), else from memory. */
  private list(url: URL): Record<string, unknown> {
    const filter = taskFilterOf(url);
    const offset = Math.max(0, Math.floor(Number(url.searchParams.get("offset") ?? 0)) || 0);
    const { history, cluster } = this.ctx;
    if (!history) {
      const all = cluster.state.tasksList({ ...filter, limit: Infinity });
      return { tasks: all.slice(offset, offset + (filter.limit ?? 200)).map(taskSummary), total: all.length, offset, limit: filter.limit };
    }
    this.ctx.saveHistory();
    const page = history.list(filter, offset);
    return { tasks: page.tasks.map(taskSummary), total: page.total, offset, limit: filter.limit };
  }
}
