// A worker's side of remote control: listens on the `celery.pidbox` fanout,
// runs the commands addressed to it, and replies in Celery's shapes.
import type { Broker } from "../brokers/broker.js";
import { PIDBOX_EXCHANGE, REPLY_EXCHANGE, decodeRequest, encodeReply, type ControlRequest } from "../control/mailbox.js";
import type { Logger } from "../log.js";

/** What remote control may ask of a worker. */
export interface Controllable {
  readonly hostname: string;
  revoke(ids: string[], terminate: boolean): string[];
  revokedIds(): string[];
  activeInfo(): unknown[];
  reservedInfo(): unknown[];
  registered(): string[];
  stats(): Record<string, unknown>;
  activeQueues(): unknown[];
  addConsumer(queue: string): void;
  cancelConsumer(queue: string): void;
  setRateLimit(taskName: string, rate: string | null): void;
  setTimeLimit(taskName: string, soft: number | null, hard: number | null): void;
  poolResize(delta: number): Promise<number>;
  shutdown(): void;
  /** Switches task events on or off (Celery's enable_events / disable_events). */
  setTaskEvents?(on: boolean): void;
}

async function dispatch(w: Controllable, req: ControlRequest): Promise<unknown> {
  const a = req.arguments;
  switch (req.method) {
    case "ping":
      return { ok: "pong" };
    case "revoke": {
      const ids = (Array.isArray(a.task_id) ? a.task_id : [a.task_id]).map(String);
      const terminated = w.revoke(ids, a.terminate === true);
      return { ok: `tasks ${ids.join(", ")} flagged as revoked${terminated.length ? `; terminated ${terminated.join(", ")}` : ""}` };
    }
    case "active":
      return w.activeInfo();
    case "reserved":
      return w.reservedInfo();
    case "scheduled":
      // Celeriac keeps ETA tasks in the broker, never in worker memory.
      return [];
    case "registered":
      return w.registered();
    case "stats":
      return w.stats();
    case "revoked":
      return w.revokedIds();
    case "active_queues":
      return w.activeQueues();
    case "rate_limit":
      w.setRateLimit(String(a.task_name), (a.rate_limit as string | null) ?? null);
      return { ok: `new rate limit set successfully` };
    case "time_limit":
      w.setTimeLimit(String(a.task_name), (a.soft as number | null) ?? null, (a.hard as number | null) ?? null);
      return { ok: "time limits set successfully" };
    case "add_consumer":
      w.addConsumer(String(a.queue));
      return { ok: `add consumer ${String(a.queue)}` };
    case "cancel_consumer":
      w.cancelConsumer(String(a.queue));
      return { ok: `no longer consuming from ${String(a.queue)}` };
    case "pool_grow":
    case "pool_shrink": {
      const n = Number(a.n ?? 1) * (req.method === "pool_grow" ? 1 : -1);
      const size = await w.poolResize(n);
      return { ok: `pool will ${req.method === "pool_grow" ? "grow" : "shrink"}`, size };
    }
    case "enable_events":
    case "disable_events":
      w.setTaskEvents?.(req.method === "enable_events");
      return { ok: `task events ${req.method === "enable_events" ? "enabled" : "disabled"}` };
    case "shutdown":
      w.shutdown();
      return { ok: "shutdown signal sent" };
    default:
      return { error: `unknown control command ${JSON.stringify(req.method)}` };
  }
}

/** Subscribes the worker to remote control; returns the unsubscribe function (null when the broker has no fanout). */
export async function listenForControl(broker: Broker, worker: Controllable, log: Logger): Promise<(() => Promise<void>) | null> {
  if (!broker.subscribeFanout) return null;
  return broker.subscribeFanout(PIDBOX_EXCHANGE, "#", (msg) => {
    let req: ControlRequest;
    try {
      req = decodeRequest(msg);
    } catch (err) {
      log.warn(`ignored a control message: ${(err as Error).message}`);
      return;
    }
    if (req.destination && !req.destination.includes(worker.hostname)) return;
    void dispatch(worker, req)
      .catch((err: Error) => ({ error: err.message }))
      .then(async (reply) => {
        if (!req.reply_to) return;
        const key = req.reply_to.routing_key;
        await broker.publish({ queue: key, exchange: req.reply_to.exchange || REPLY_EXCHANGE, routingKey: key }, encodeReply(worker.hostname, req.ticket, reply));
      })
      .catch((err: Error) => log.warn(`cannot reply to control ${req.method}: ${err.message}`));
  });
}
