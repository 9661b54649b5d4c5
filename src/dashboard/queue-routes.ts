// The dashboard's queues: tasks waiting in the broker for their countdown/ETA
// (listed per queue, run now or revoked), purge, and pause/resume consumption
// on every worker (Celery's cancel_consumer / add_consumer broadcasts).
import type { Celeriac } from "../app.js";
import type { Broker, ScheduledMessage } from "../brokers/broker.js";
import type { ClusterView } from "./cluster.js";
import { HttpError } from "./http.js";
import { params, type ApiRequest, type RouteGroup } from "./routes.js";

/** Scheduled tasks listed per queue (the count is always whole). */
const MAX_LISTED = 200;
/** How long a broadcast waits for workers' replies (ms). */
const REPLY_TIMEOUT_MS = 2000;

function scheduledRow(s: ScheduledMessage): Record<string, unknown> {
  const h = s.message.headers;
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return { id: text(h.id), task: text(h.task), eta: s.eta / 1000, args: text(h.argsrepr), kwargs: text(h.kwargsrepr) };
}

export class QueueRoutes implements RouteGroup {
  constructor(
    private readonly app: Celeriac,
    private readonly cluster: ClusterView,
    private readonly broker: () => Broker,
  ) {}

  handle(req: ApiRequest): Promise<unknown> | null {
    const { method, path } = req;
    if (method === "GET" && path === "/api/scheduled") return this.scheduled();
    if (method !== "POST") return null;
    const one = params(/^\/api\/scheduled\/([^/]+)\/([^/]+)\/(run|revoke)$/, path);
    if (one) return this.actOnScheduled(one[0]!, one[1]!, one[2] === "revoke");
    const queue = params(/^\/api\/queues\/([^/]+)\/(purge|pause|resume)$/, path);
    if (queue) return this.actOnQueue(queue[0]!, queue[1]!);
    return null;
  }

  private async scheduled(): Promise<unknown> {
    const broker = this.broker();
    if (!broker.scheduled) {
      return {
        supported: false,
        reason: `${broker.displayUrl} cannot list tasks waiting for their ETA (on RabbitMQ they travel through the delay queues until due); they show in the task list as PENDING`,
        queues: [],
      };
    }
    const queues = [];
    for (const name of this.cluster.queueNames()) {
      const { total, messages } = await broker.scheduled(name, MAX_LISTED);
      queues.push({ name, total, tasks: messages.map(scheduledRow) });
    }
    return { supported: true, queues };
  }

  private async actOnScheduled(queue: string, id: string, revoke: boolean): Promise<unknown> {
    const broker = this.broker();
    if (!broker.releaseScheduled) throw new HttpError(501, `${broker.displayUrl} cannot release a scheduled task`);
    if (revoke) {
      const replies = await this.app.control.revoke(id, { reply: true, timeout: REPLY_TIMEOUT_MS, limit: this.cluster.onlineCount() || undefined });
      // Revoked, then released: a worker gets it now, skips it and reports REVOKED, instead of at its ETA.
      // With no worker to remember the revoke (workers keep revokes in memory), it stays where it is.
      if (!replies.length) return { ok: true, id, released: false, note: "no worker answered: the revoke is stored in the result backend only" };
    }
    const released = await broker.releaseScheduled(queue, id);
    if (!released && !revoke) throw new HttpError(404, `task ${id} no longer waits in ${queue}`);
    return { ok: true, id, released };
  }

  private async actOnQueue(queue: string, action: string): Promise<unknown> {
    if (action === "purge") {
      const purged = await this.broker().purge(queue);
      await this.cluster.measureQueues(this.broker());
      return { ok: true, queue, purged };
    }
    const opts = { timeout: REPLY_TIMEOUT_MS, limit: this.cluster.onlineCount() || undefined };
    const replies = action === "pause" ? await this.app.control.cancelConsumer(queue, opts) : await this.app.control.addConsumer(queue, opts);
    this.cluster.setConsuming(
      queue,
      action === "resume",
      replies.flatMap((r) => Object.keys(r)),
    );
    return { ok: true, queue, workers: replies.length };
  }
}
