// `app.control`: remote control of running workers — broadcast a command and
// collect the replies (ping, inspect, revoke, rate limits, consumers, shutdown).
import { randomUUID } from "node:crypto";
import type { Celeriac } from "../app.js";
import { resultMeta } from "../backends/result-meta.js";
import { ConfigurationError } from "../errors.js";
import type { Broker } from "../brokers/broker.js";
import { PIDBOX_EXCHANGE, PIDBOX_KIND, decodeReply, encodeRequest, replyQueue } from "./mailbox.js";

export interface BroadcastOptions {
  /** Worker hostnames to address; all when absent. */
  destination?: string[];
  /** Wait for replies (default true for inspect/ping). */
  reply?: boolean;
  /** How long to collect replies, ms (default 1000). */
  timeout?: number;
  /** Stop after this many replies. */
  limit?: number;
}

export type Replies = Record<string, unknown>[];

export class Control {
  constructor(private readonly app: Celeriac) {}

  /** Sends a command to workers; resolves with their replies (`[{ hostname: reply }, …]`). */
  async broadcast(method: string, args: Record<string, unknown> = {}, opts: BroadcastOptions = {}): Promise<Replies> {
    const broker = await this.app.broker();
    const wantReply = opts.reply ?? false;
    if (!broker.publishFanout || (wantReply && !broker.declareQueue)) {
      throw new ConfigurationError(`broker ${broker.displayUrl} has no broadcast: remote control is not available`);
    }
    const timeout = opts.timeout ?? 1000;
    const queue = replyQueue(randomUUID());
    // Declared before the request goes out: a reply to a key nobody bound is dropped.
    const release = wantReply ? await broker.declareQueue!(queue) : null;
    try {
      const msg = encodeRequest(
        {
          method,
          arguments: args,
          destination: opts.destination ?? null,
          reply_to: wantReply ? { exchange: queue.exchange, routing_key: queue.routingKey } : null,
        },
        Math.max(10, timeout / 1000),
      );
      await broker.publishFanout(PIDBOX_EXCHANGE, "", msg, PIDBOX_KIND);
      return wantReply ? await this.collect(broker, queue.name, timeout, opts.limit ?? opts.destination?.length ?? Infinity) : [];
    } finally {
      await release?.().catch(() => {});
    }
  }

  private async collect(broker: Broker, queue: string, timeout: number, limit: number): Promise<Replies> {
    const replies: Replies = [];
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline && replies.length < limit) {
      const got = await broker.fetch([queue], { max: 100, waitMs: Math.max(1, deadline - Date.now()), lease: false });
      for (const d of got) {
        try {
          replies.push(decodeReply(d.message));
        } catch {
          // not a reply we can read: ignore it
        }
      }
    }
    return replies;
  }

  ping(opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("ping", {}, { ...opts, reply: true });
  }

  /** Revokes tasks: workers skip them when they arrive; `terminate` also stops them if running. */
  async revoke(taskId: string | string[], opts: { terminate?: boolean; signal?: string } & BroadcastOptions = {}): Promise<Replies> {
    const ids = Array.isArray(taskId) ? taskId : [taskId];
    const backend = await this.app.backend();
    // Record REVOKED now, so waiters learn it even if no worker is up to hear the broadcast.
    await Promise.all(
      ids.map(async (id) => {
        const current = await backend.get(id);
        if (current && ["SUCCESS", "FAILURE", "REVOKED"].includes(current.status)) return;
        await backend.store(
          resultMeta({ taskId: id, status: "REVOKED", result: { exc_type: "TaskRevokedError", exc_message: ["revoked"], exc_module: "celeriac.errors" } }),
        );
      }),
    );
    return this.broadcast("revoke", { task_id: ids, terminate: opts.terminate ?? false, signal: opts.signal ?? "SIGTERM" }, opts);
  }

  rateLimit(taskName: string, rate: string | null, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("rate_limit", { task_name: taskName, rate_limit: rate }, { reply: true, ...opts });
  }

  timeLimit(taskName: string, soft: number | null, hard: number | null, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("time_limit", { task_name: taskName, soft, hard }, { reply: true, ...opts });
  }

  addConsumer(queue: string, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("add_consumer", { queue }, { reply: true, ...opts });
  }

  cancelConsumer(queue: string, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("cancel_consumer", { queue }, { reply: true, ...opts });
  }

  poolGrow(n = 1, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("pool_grow", { n }, { reply: true, ...opts });
  }

  poolShrink(n = 1, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("pool_shrink", { n }, { reply: true, ...opts });
  }

  /** Sets the bounds of workers' pool autoscaling (Celery's autoscale); workers started without --autoscale answer an error. */
  autoscale(max: number, min: number, opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("autoscale", { max, min }, { reply: true, ...opts });
  }

  /** Replaces every pool child (Celery's pool_restart), so they load the app afresh. */
  poolRestart(opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("pool_restart", { modules: null, reload: false }, { reply: true, ...opts });
  }

  shutdown(opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("shutdown", {}, opts);
  }

  /**
   * Inspect, as Celery's: `active`, `reserved`, `scheduled` (always empty:
   * Celeriac keeps ETA tasks in the broker, not in worker memory), `registered`
   * (with task attributes, e.g. "name", "rate_limit"), `stats`, `revoked`,
   * `active_queues`, `query_task`, `clock`, `report`, `conf`.
   */
  inspect(opts: BroadcastOptions = {}) {
    const ask = (method: string, args: Record<string, unknown> = {}) => this.broadcast(method, args, { reply: true, ...opts });
    return {
      active: () => ask("active"),
      reserved: () => ask("reserved"),
      scheduled: () => ask("scheduled"),
      registered: (...taskinfoitems: string[]) => ask("registered", taskinfoitems.length ? { taskinfoitems } : {}),
      queryTask: (...ids: string[]) => ask("query_task", { ids }),
      clock: () => ask("clock"),
      report: () => ask("report"),
      conf: (withDefaults = false) => ask("conf", { with_defaults: withDefaults }),
      stats: () => ask("stats"),
      revoked: () => ask("revoked"),
      activeQueues: () => ask("active_queues"),
      ping: () => ask("ping"),
    };
  }
}
