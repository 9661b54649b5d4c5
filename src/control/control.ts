// `app.control`: remote control of running workers — broadcast a command and
// collect the replies (ping, inspect, revoke, rate limits, consumers, shutdown).
import { randomUUID } from "node:crypto";
import type { Celeriac } from "../app.js";
import { ConfigurationError } from "../errors.js";
import { PIDBOX_EXCHANGE, REPLY_EXCHANGE, decodeReply, encodeRequest } from "./mailbox.js";

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
    if (!broker.publishFanout) throw new ConfigurationError(`broker ${broker.displayUrl} has no broadcast: remote control is not available`);
    const wantReply = opts.reply ?? false;
    const replyQueue = randomUUID();
    const timeout = opts.timeout ?? 1000;
    const msg = encodeRequest(
      {
        method,
        arguments: args,
        destination: opts.destination ?? null,
        reply_to: wantReply ? { exchange: REPLY_EXCHANGE, routing_key: replyQueue } : null,
      },
      Math.max(10, timeout / 1000),
    );
    await broker.publishFanout(PIDBOX_EXCHANGE, "", msg);
    if (!wantReply) return [];
    const replies: Replies = [];
    const deadline = Date.now() + timeout;
    const limit = opts.limit ?? opts.destination?.length ?? Infinity;
    while (Date.now() < deadline && replies.length < limit) {
      const got = await broker.fetch([replyQueue], { max: 100, waitMs: Math.max(1, deadline - Date.now()), lease: false });
      for (const d of got) {
        try {
          replies.push(decodeReply(d.message));
        } catch {
          // not a reply we can read: ignore it
        }
      }
    }
    await broker.purge(replyQueue).catch(() => {});
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
        await backend.store({
          task_id: id,
          status: "REVOKED",
          result: { exc_type: "TaskRevokedError", exc_message: ["revoked"], exc_module: "celeriac.errors" },
          traceback: null,
          children: [],
          date_done: new Date().toISOString().replace("Z", ""),
        });
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

  shutdown(opts: BroadcastOptions = {}): Promise<Replies> {
    return this.broadcast("shutdown", {}, opts);
  }

  /** Inspect: `active`, `reserved`, `scheduled`, `registered`, `stats`, `revoked`, `active_queues`. */
  inspect(opts: BroadcastOptions = {}) {
    const ask = (method: string) => this.broadcast(method, {}, { reply: true, ...opts });
    return {
      active: () => ask("active"),
      reserved: () => ask("reserved"),
      scheduled: () => ask("scheduled"),
      registered: () => ask("registered"),
      stats: () => ask("stats"),
      revoked: () => ask("revoked"),
      activeQueues: () => ask("active_queues"),
      ping: () => ask("ping"),
    };
  }
}
