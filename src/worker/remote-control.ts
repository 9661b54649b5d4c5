// A worker's side of remote control: listens on the `celery.pidbox` fanout,
// runs the commands addressed to it, and replies in Celery's shapes.
import type { Broker } from "../brokers/broker.js";
import { PIDBOX_EXCHANGE, PIDBOX_KIND, REPLY_EXCHANGE, decodeRequest, encodeReply, type ControlRequest } from "../control/mailbox.js";
import { ConfigurationError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Message } from "../protocol/message.js";

/** What remote control may ask of a worker. */
export interface Controllable {
  readonly hostname: string;
  revoke(ids: string[], terminate: boolean): string[];
  revokedIds(): string[];
  activeInfo(): unknown[];
  reservedInfo(): unknown[];
  /** Task names, builtins (celery.*) only when asked; with `items`, Celery's `name [attr=value …]` lines. */
  registered(items?: string[], builtins?: boolean): string[];
  /** The tasks among `ids` this worker holds: id → [state ("active", "reserved"), info]. */
  queryTask(ids: string[]): Record<string, [string, unknown]>;
  /** The worker's logical (Lamport) clock. */
  clock(): number;
  /** Versions and settings (secrets masked), for bug reports. */
  report(): string;
  /** Settings by Celery's names, secrets masked; only those changed from the defaults unless `withDefaults`. */
  conf(withDefaults: boolean): Record<string, unknown>;
  stats(): Record<string, unknown>;
  activeQueues(): unknown[];
  addConsumer(queue: string): void;
  cancelConsumer(queue: string): void;
  setRateLimit(taskName: string, rate: string | null): void;
  setTimeLimit(taskName: string, soft: number | null, hard: number | null): void;
  /** Resizes the pool: the new size at once, `ready` once new children have started. */
  poolResize(delta: number): { size: number; ready: Promise<void> };
  /** Replaces the pool's children (they load the app afresh); returns how many. Throws for a pool without children. */
  poolRestart(): number;
  /** New autoscale bounds; throws when the worker does not autoscale, or for bad bounds. */
  autoscale(max: number, min: number): { max: number; min: number };
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
    case "dump_tasks": {
      const items = Array.isArray(a.taskinfoitems) ? a.taskinfoitems.map(String) : undefined;
      return w.registered(items, a.builtins === true);
    }
    case "query_task": {
      const ids = Array.isArray(a.ids) ? a.ids : [a.ids];
      return w.queryTask(ids.filter((id) => id !== undefined && id !== null).map(String));
    }
    case "clock":
      return { clock: w.clock() };
    case "report":
      return { ok: w.report() };
    case "conf":
    case "dump_conf":
      return w.conf(a.with_defaults === true);
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
      // Celery's "pool will grow": answered now, while new children load the app
      // (that can outlast the caller's reply timeout on a busy machine).
      const { size } = w.poolResize(n);
      return { ok: `pool will ${req.method === "pool_grow" ? "grow" : "shrink"}`, size };
    }
    case "autoscale": {
      const { max, min } = w.autoscale(Number(a.max), Number(a.min));
      return { ok: `autoscale now max=${max} min=${min}` };
    }
    case "pool_restart":
      // Celery's reply; the children are replaced in the background, as with pool_grow.
      return { ok: "reload started", restarted: w.poolRestart() };
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
  const onRequest = (msg: Message): void => {
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
        if (!broker.publishDirect) throw new ConfigurationError(`broker ${broker.displayUrl} cannot route replies`);
        await broker.publishDirect(req.reply_to.exchange || REPLY_EXCHANGE, req.reply_to.routing_key, encodeReply(worker.hostname, req.ticket, reply));
      })
      .catch((err: Error) => log.warn(`cannot reply to control ${req.method}: ${err.message}`));
  };
  return broker.subscribeFanout(PIDBOX_EXCHANGE, "#", onRequest, PIDBOX_KIND);
}
