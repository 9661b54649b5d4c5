// Leases of taken messages, kept as kombu's QoS keeps them: the unacked hash
// (tag → [envelope, exchange, routing_key]) and the unacked_index zset (tag →
// when leased or last renewed, s). Anyone restores entries older than the
// visibility timeout, under kombu's unacked_mutex, so Python workers restore
// ours and we restore theirs. Sharded by queue (./layout.ts), each queue has
// its own three keys, and everything here is done per queue.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../../log.js";
import { toEnvelope, type Message } from "../../protocol/message.js";
import { maskUrl } from "../../url.js";
import type { Delivery } from "../broker.js";
import type { BrokerRedis } from "./client.js";
import { bindingKey, priorityStep, SEP } from "./keys.js";
import type { KeyLayout } from "./layout.js";

export interface RedisDelivery extends Delivery {
  /** Whether an unacked entry was recorded (so ack/reject must remove it). */
  leased: boolean;
}

/** The broker's command connection, connected on demand. */
type Connect = () => Promise<BrokerRedis>;

/** Tags restored per scan round, and rounds per scan. */
const RESTORE_BATCH = 100;
const RESTORE_ROUNDS = 100;

/** Tags by the slot group of their queue (KeyLayout.groupOf), with a queue of the group to name its keys by. */
function byGroup<T extends { queue: string }>(layout: KeyLayout, items: readonly T[]): Map<string, { queue: string; items: T[] }> {
  const out = new Map<string, { queue: string; items: T[] }>();
  for (const item of items) {
    const g = layout.groupOf(item.queue);
    let entry = out.get(g);
    if (!entry) out.set(g, (entry = { queue: item.queue, items: [] }));
    entry.items.push(item);
  }
  return out;
}

export class RedisLeases {
  /** When the next scan for expired leases is due (epoch ms), per slot group. */
  private readonly restoreDue = new Map<string, number>();
  private readonly restoreEveryMs: number;
  /** Leases of messages taken by a blocking pop, not yet written: tag → queue and unacked entry. Ack and reject delete a tag from it first: one found there has nothing in Redis to undo. */
  private readonly pending = new Map<string, { queue: string; entry: string }>();

  constructor(
    readonly layout: KeyLayout,
    /** How long the mutex is held at most (s). */
    private readonly mutexExpire: number,
    private readonly visibilityTimeout: number,
    /** The connected command connection, or null while there is none. */
    private readonly client: () => BrokerRedis | null,
    private readonly log: Logger,
  ) {
    // Look for expired leases a few times per visibility timeout (at most every 10 s).
    this.restoreEveryMs = Math.min(10_000, Math.max(100, (visibilityTimeout * 1000) / 4));
  }

  /**
   * kombu's QoS.append: the unacked entry [envelope, exchange, routing_key] and
   * its index score, written at the end of this event-loop turn, or before a
   * task runs (flush). A message acked before then (an early-ack task that
   * started at once, the common case for a message that arrives at an idle
   * worker) needs neither write.
   */
  record(delivery: Delivery, envelope: string): void {
    this.pending.set(delivery.tag, { queue: delivery.queue, entry: `[${envelope}, "", ${JSON.stringify(delivery.queue)}]` });
    if (this.pending.size === 1) setImmediate(() => this.writePending());
  }

  flush(acked: Delivery | null): void {
    // Its ack, on its way, then has nothing to remove.
    if (acked && this.pending.delete(acked.tag)) (acked as RedisDelivery).leased = false;
    this.writePending();
  }

  writePending(): void {
    const client = this.client();
    if (!this.pending.size || !client) return;
    const now = (Date.now() / 1000).toFixed(6);
    const pending = [...this.pending].map(([tag, p]) => ({ tag, ...p }));
    this.pending.clear();
    for (const { queue, items } of byGroup(this.layout, pending).values()) {
      const index: string[] = [];
      const entries: string[] = [];
      for (const { tag, entry } of items) {
        index.push(now, tag);
        entries.push(tag, entry);
      }
      // The same connection as acks and renewals, so the lease reaches Redis before them.
      client
        .multi()
        .zadd(this.layout.index(queue), ...index)
        .hset(this.layout.unacked(queue), ...entries)
        .exec()
        .catch((err: Error) => this.log.error(`cannot record the lease of ${entries.length / 2} message(s): ${maskUrl(err.message)}`));
    }
  }

  /** Whether a delivery has a lease in Redis to settle (one still pending is dropped instead). */
  private settles(delivery: Delivery): boolean {
    return (delivery as RedisDelivery).leased !== false && !this.pending.delete(delivery.tag);
  }

  /** `conn` is called only when there is something to send: an ack of nothing does not reconnect a closed broker. */
  async ack(conn: Connect, deliveries: readonly Delivery[]): Promise<void> {
    const settled = deliveries.filter((d) => this.settles(d));
    if (!settled.length) return;
    const client = await conn();
    await Promise.all(
      [...byGroup(this.layout, settled).values()].map(({ queue, items }) =>
        this.remove(
          client,
          queue,
          items.map((d) => d.tag),
        ),
      ),
    );
  }

  /** As kombu's QoS.ack: ZREM from the index, HDEL from the hash (one round trip). */
  private async remove(client: Redis, queue: string, tags: string[]): Promise<void> {
    const results = await client
      .pipeline()
      .zrem(this.layout.index(queue), ...tags)
      .hdel(this.layout.unacked(queue), ...tags)
      .exec();
    for (const [err] of results ?? []) if (err) throw err;
  }

  async reject(conn: Connect, delivery: Delivery, requeue: boolean): Promise<void> {
    const client = await conn();
    const leased = this.settles(delivery);
    if (!requeue) {
      if (leased) await this.remove(client, delivery.queue, [delivery.tag]);
      return;
    }
    // As kombu does: back of the queue, marked redelivered.
    const payload = redeliveredEnvelope(delivery.message);
    const q = delivery.queue;
    const target = this.layout.list(q, priorityStep(delivery.message.properties.priority));
    await client.celeriacRestore(3, this.layout.unacked(q), this.layout.index(q), target, delivery.tag, "1e300", payload, "left", leased ? "" : "force");
  }

  async extend(conn: Connect, deliveries: readonly Delivery[]): Promise<void> {
    const leased = deliveries.filter((d) => (d as RedisDelivery).leased !== false);
    if (!leased.length) return;
    const client = await conn();
    const now = (Date.now() / 1000).toFixed(6);
    await Promise.all(
      [...byGroup(this.layout, leased).values()].map(({ queue, items }) => {
        const args: string[] = [];
        for (const d of items) args.push(now, d.tag);
        // XX: renew only entries still there (an acked or restored message stays gone).
        return client.zadd(this.layout.index(queue), "XX", ...args);
      }),
    );
  }

  /** When the scan for expired leases of these queues' slot group is next due (epoch ms). */
  nextRestoreAt(queues: readonly string[]): number {
    return this.restoreDue.get(this.layout.groupOf(queues[0]!)) ?? 0;
  }

  /**
   * Puts back messages whose lease ran out (their worker died or stalled), as
   * kombu's restore_visible does, under the same mutex so only one process scans.
   */
  async restoreExpired(client: BrokerRedis, now: number, queues: readonly string[]): Promise<void> {
    const group = queues[0]!;
    this.restoreDue.set(this.layout.groupOf(group), now + this.restoreEveryMs);
    const [unacked, index, mutex] = [this.layout.unacked(group), this.layout.index(group), this.layout.mutex(group)];
    const cutoff = now / 1000 - this.visibilityTimeout;
    const token = randomUUID();
    const got = await client.set(mutex, token, "EX", this.mutexExpire, "NX");
    if (got !== "OK") return;
    try {
      for (let round = 0; round < RESTORE_ROUNDS; round++) {
        const tags = await client.zrangebyscore(index, 0, cutoff, "LIMIT", 0, RESTORE_BATCH);
        if (!tags.length) break;
        const entries = await client.hmget(unacked, ...tags);
        let restored = 0;
        for (let i = 0; i < tags.length; i++) {
          const tag = tags[i]!;
          const text = entries[i];
          if (!text) {
            await client.zrem(index, tag);
            continue;
          }
          const targets = await restoreTargets(client, this.layout, text, group);
          if (!targets) {
            this.log.error(`unacked message ${tag} cannot be restored (unreadable entry); dropped`);
            await client.multi().zrem(index, tag).hdel(unacked, tag).exec();
            continue;
          }
          const { lists, payload } = targets;
          restored += await client.celeriacRestore(2 + lists.length, unacked, index, ...lists, tag, cutoff.toFixed(6), payload, "right", "");
        }
        if (restored) this.log.warn(`restored ${restored} unacked message(s) whose visibility timeout (${this.visibilityTimeout} s) ran out`);
        if (tags.length < RESTORE_BATCH) break;
      }
    } finally {
      await client.celeriacReleaseMutex(mutex, token).catch(() => {});
    }
  }
}

function redeliveredEnvelope(message: Message): string {
  const p = message.properties;
  const info = { exchange: "", routing_key: "", ...p.delivery_info, redelivered: true };
  return toEnvelope({ ...message, headers: { ...message.headers, redelivered: true }, properties: { ...p, delivery_info: info } });
}

/**
 * Where an unacked entry `[envelope, exchange, routing_key]` goes back to, as
 * kombu's _lookup decides; sharded by queue, to the queue whose unacked hash
 * held it (another queue's list is in another slot).
 */
async function restoreTargets(client: Redis, layout: KeyLayout, text: string, group: string): Promise<{ lists: string[]; payload: string } | null> {
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(entry) || typeof entry[0] !== "object" || entry[0] === null) return null;
  const [envelope, exchange, routingKey] = entry as [Record<string, unknown>, string, string];
  let queues: string[] = [];
  if (layout.byQueue) queues = [group];
  else if (!exchange) queues = routingKey ? [routingKey] : [];
  else {
    const members = await client.smembers(bindingKey(exchange));
    for (const m of members) {
      const [rk, , queue] = m.split(SEP);
      if (queue && (rk === routingKey || rk === "#" || rk === "*")) queues.push(queue);
    }
    if (!queues.length && routingKey) queues = [routingKey];
  }
  if (!queues.length) return null;
  const headers = (envelope.headers ?? {}) as Record<string, unknown>;
  const props = (envelope.properties ?? {}) as Record<string, unknown>;
  const info = (props.delivery_info ?? {}) as Record<string, unknown>;
  const payload = JSON.stringify({
    ...envelope,
    headers: { ...headers, redelivered: true },
    properties: { ...props, delivery_info: { ...info, redelivered: true } },
  });
  // kombu puts restored messages on the plain list; we keep their priority.
  const step = priorityStep(props.priority as number | undefined);
  return { lists: queues.map((q) => layout.list(q, step)), payload };
}
