// The dashboard's worker actions, by remote control: pool size ±1, restart of
// the pool's children, autoscale bounds, consumers added or cancelled, shutdown; and task rate
// limits on every worker. A worker that does not answer is an error (504),
// one that answers with an error a 409 carrying its words.
import type { Celeriac } from "../app.js";
import type { Replies } from "../control/control.js";
import type { ClusterView } from "./cluster.js";
import { HttpError } from "./http.js";
import { params, type ApiRequest, type RouteGroup } from "./routes.js";

const REPLY_TIMEOUT_MS = 2000;

/** The one worker's reply; throws when it did not answer or answered with an error. */
function replyOf(host: string, replies: Replies): Record<string, unknown> {
  const reply = replies.find((r) => host in r)?.[host] as Record<string, unknown> | undefined;
  if (!reply) throw new HttpError(504, `worker ${host} did not answer`);
  if (typeof reply.error === "string") throw new HttpError(409, `worker ${host}: ${reply.error}`);
  return reply;
}

export class WorkerRoutes implements RouteGroup {
  constructor(
    private readonly app: Celeriac,
    private readonly cluster: ClusterView,
  ) {}

  handle(req: ApiRequest): Promise<unknown> | null {
    if (req.method !== "POST") return null;
    if (req.path === "/api/rate-limit") return this.rateLimit(req.body);
    const m = params(/^\/api\/workers\/([^/]+)\/(pool|pool-restart|autoscale|consumers|shutdown)$/, req.path);
    if (!m) return null;
    const [host, action] = m as [string, string];
    if (action === "pool") return this.resize(host, req.body);
    if (action === "pool-restart") return this.restartPool(host);
    if (action === "autoscale") return this.autoscale(host, req.body);
    if (action === "consumers") return this.consumers(host, req.body);
    return this.shutdown(host);
  }

  private control(host: string) {
    return { destination: [host], timeout: REPLY_TIMEOUT_MS, limit: 1 };
  }

  private async resize(host: string, body: Record<string, unknown>): Promise<unknown> {
    const delta = body.delta === -1 ? -1 : body.delta === 1 ? 1 : 0;
    if (!delta) throw new HttpError(400, "delta must be 1 or -1");
    const opts = this.control(host);
    const reply = replyOf(host, delta > 0 ? await this.app.control.poolGrow(1, opts) : await this.app.control.poolShrink(1, opts));
    const size = typeof reply.size === "number" ? reply.size : null;
    if (size !== null) this.cluster.setConcurrency(host, size);
    return { ok: true, size };
  }

  private async restartPool(host: string): Promise<unknown> {
    const reply = replyOf(host, await this.app.control.poolRestart(this.control(host)));
    return { ok: true, restarted: typeof reply.restarted === "number" ? reply.restarted : null };
  }

  private async autoscale(host: string, body: Record<string, unknown>): Promise<unknown> {
    const { max, min } = body;
    if (typeof max !== "number" || typeof min !== "number" || !Number.isInteger(max) || !Number.isInteger(min) || min < 1 || max < min)
      throw new HttpError(400, '{"max": n, "min": m} with whole numbers, 1 <= min <= max');
    replyOf(host, await this.app.control.autoscale(max, min, this.control(host)));
    this.cluster.setAutoscale(host, { max, min });
    return { ok: true, max, min };
  }

  private async consumers(host: string, body: Record<string, unknown>): Promise<unknown> {
    const queue = typeof body.queue === "string" ? body.queue.trim() : "";
    if (!queue) throw new HttpError(400, "name the queue (queue)");
    if (body.action !== "add" && body.action !== "cancel") throw new HttpError(400, 'action must be "add" or "cancel"');
    const on = body.action === "add";
    const opts = this.control(host);
    replyOf(host, on ? await this.app.control.addConsumer(queue, opts) : await this.app.control.cancelConsumer(queue, opts));
    this.cluster.setConsuming(queue, on, [host]);
    return { ok: true, queue, consuming: on };
  }

  private async shutdown(host: string): Promise<unknown> {
    // Celery's shutdown sends no reply; the worker's offline heartbeat shows it went.
    await this.app.control.shutdown({ destination: [host] });
    return { ok: true };
  }

  private async rateLimit(body: Record<string, unknown>): Promise<unknown> {
    const task = typeof body.task === "string" ? body.task : "";
    if (!task) throw new HttpError(400, "name the task (task)");
    const rate = typeof body.rate === "string" && body.rate.trim() ? body.rate.trim() : null;
    if (rate && !/^\d+(\.\d+)?(\/[smh])?$/.test(rate)) throw new HttpError(400, `bad rate ${JSON.stringify(rate)}: use e.g. 10/s, 100/m, 1000/h`);
    const replies = await this.app.control.rateLimit(task, rate, { timeout: 1500, limit: this.cluster.onlineCount() || undefined });
    return { ok: true, replies };
  }
}
