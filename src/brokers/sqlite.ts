// sqlite:// — the embedded default. One file shared by any number of producer
// and worker processes on one machine (WAL mode).
//
// One column, visible_at, carries both ETA and leases: 0 means ready; a time
// means "not before then" — for a scheduled message its ETA, for a leased one
// the end of its lease. A sweep sets due rows back to 0, which delivers
// scheduled messages and redelivers those whose worker died, by one mechanism.
// The worker never holds future tasks in memory.
import type BetterSqlite3 from "better-sqlite3";
import type { Message } from "../protocol/message.js";
import { fromEnvelope, readEnvelope, toEnvelope } from "../protocol/message.js";
import { openDatabase } from "../util/sqlite.js";
import { SCHEMA } from "./sqlite-schema.js";
import { WriteBatcher } from "../util/batcher.js";
import {
  tokenBucketStep,
  topicMatches,
  type Broker,
  type BrokerOptions,
  type Delivery,
  type FetchOptions,
  type PublishOptions,
  type Route,
  type BoundQueue,
  type ScheduledMessage,
} from "./broker.js";
import { maskUrl, sqlitePath } from "../url.js";
import { CommitSignal } from "../util/commit-signal.js";

/** Fanout messages are kept this long (ms), then deleted: subscribers poll far more often. */
const FANOUT_RETENTION_MS = 10 * 60_000;
/** How often a fanout subscription looks for new messages (ms). */
const FANOUT_POLL_MS = 100;

interface Row {
  id: number;
  queue: string;
  priority: number;
  deliveries: number;
  envelope: string;
}

interface PendingPublish {
  queue: string;
  priority: number;
  visibleAt: number;
  envelope: string;
}

/** How often, at most, a fetch sweeps due rows back to ready (ms): the ETA precision. */
const SWEEP_INTERVAL_MS = 10;
/** Idle polling interval bounds while waiting for messages (ms), when no commit signal wakes the worker. */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 4;
/** The longest idle wait when a commit signal wakes the worker (ms): what a missed signal costs. */
const SIGNALLED_POLL_MS = 250;

export class SqliteBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = true;
  readonly localFetch = true;
  private db: BetterSqlite3.Database | null = null;
  private readonly path: string;
  private stmts!: ReturnType<SqliteBroker["prepare"]>;
  private lastSweep = 0;
  private seenVersion = -1;
  private seenQueues = "";
  private mayHaveReady = true;
  private closed = false;
  private readonly subscriptions = new Set<NodeJS.Timeout>();
  private readonly publishes: WriteBatcher<PendingPublish>;
  private readonly acks: WriteBatcher<[number, number]>;
  /** Wakes an idle fetch when another process commits (see util/commit-signal.ts). */
  private signal: CommitSignal | null = null;

  constructor(url: string, opts: BrokerOptions = {}) {
    this.displayUrl = maskUrl(url);
    this.path = sqlitePath(url);
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    // Publishes made in one tick are written in one transaction.
    this.publishes = new WriteBatcher((batch) => this.writePublishes(batch));
    // Acks of one tick too: a process pool's children answer a few tasks per IPC read, and
    // the worker acks each read's tasks on its own, so per-call transactions held 2 acks each.
    this.acks = new WriteBatcher((batch) => this.writeAcks(batch));
  }

  async connect(): Promise<void> {
    if (this.db) return;
    this.db = openDatabase(this.path, SCHEMA);
    this.stmts = this.prepare(this.db);
    this.signal = CommitSignal.acquire(this.path);
  }

  private prepare(db: BetterSqlite3.Database) {
    return {
      insert: db.prepare("INSERT INTO celeriac_messages (queue, priority, visible_at, envelope) VALUES (?, ?, ?, ?)"),
      take: db.prepare(
        `DELETE FROM celeriac_messages WHERE id IN (
           SELECT id FROM celeriac_messages WHERE queue = ? AND visible_at = 0 ORDER BY priority DESC, id LIMIT ?)
         RETURNING id, queue, priority, deliveries, envelope`,
      ),
      lease: db.prepare(
        `UPDATE celeriac_messages SET visible_at = ?, deliveries = deliveries + 1 WHERE id IN (
           SELECT id FROM celeriac_messages WHERE queue = ? AND visible_at = 0 ORDER BY priority DESC, id LIMIT ?)
         RETURNING id, queue, priority, deliveries - 1 AS deliveries, envelope`,
      ),
      dataVersion: db.prepare("PRAGMA data_version").pluck(),
      nextDue: db.prepare("SELECT min(visible_at) FROM celeriac_messages WHERE visible_at > 0").pluck(),
      anyDue: db.prepare("SELECT 1 FROM celeriac_messages WHERE visible_at > 0 AND visible_at <= ? LIMIT 1").pluck(),
      sweep: db.prepare("UPDATE celeriac_messages SET visible_at = 0 WHERE visible_at > 0 AND visible_at <= ?"),
      ack: db.prepare("DELETE FROM celeriac_messages WHERE id = ? AND deliveries = ?"),
      requeue: db.prepare("UPDATE celeriac_messages SET visible_at = 0 WHERE id = ? AND deliveries = ?"),
      extend: db.prepare("UPDATE celeriac_messages SET visible_at = ? WHERE id = ? AND deliveries = ? AND visible_at > 0"),
      size: db.prepare("SELECT count(*) FROM celeriac_messages WHERE queue = ? AND visible_at = 0").pluck(),
      purge: db.prepare("DELETE FROM celeriac_messages WHERE queue = ?"),
      // Waiting for an ETA: not ready (visible_at set) and never delivered (a leased row has deliveries > 0).
      scheduledCount: db.prepare("SELECT count(*) FROM celeriac_messages WHERE queue = ? AND visible_at > 0 AND deliveries = 0").pluck(),
      scheduled: db.prepare(
        "SELECT visible_at, envelope FROM celeriac_messages WHERE queue = ? AND visible_at > 0 AND deliveries = 0 ORDER BY visible_at, id LIMIT ?",
      ),
      release: db.prepare(
        `UPDATE celeriac_messages SET visible_at = 0, envelope = json_set(envelope, '$.headers.eta', json('null'))
         WHERE queue = ? AND visible_at > 0 AND deliveries = 0 AND json_extract(envelope, '$.headers.id') = ?`,
      ),
      bucketGet: db.prepare("SELECT tokens, updated_at FROM celeriac_rate_buckets WHERE key = ?"),
      bucketPut: db.prepare(
        "INSERT INTO celeriac_rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?) " +
          "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
      ),
      fanoutInsert: db.prepare("INSERT INTO celeriac_fanout (exchange, routing_key, envelope, created_at) VALUES (?, ?, ?, ?)"),
      fanoutPrune: db.prepare("DELETE FROM celeriac_fanout WHERE created_at < ?"),
      fanoutLast: db.prepare("SELECT coalesce(max(id), 0) FROM celeriac_fanout").pluck(),
      bind: db.prepare("INSERT OR IGNORE INTO celeriac_bindings (exchange, routing_key, queue) VALUES (?, ?, ?)"),
      unbind: db.prepare("DELETE FROM celeriac_bindings WHERE exchange = ? AND routing_key = ? AND queue = ?"),
      boundQueues: db.prepare("SELECT queue FROM celeriac_bindings WHERE exchange = ? AND routing_key = ?").pluck(),
      fanoutSince: db.prepare("SELECT id, routing_key, envelope FROM celeriac_fanout WHERE exchange = ? AND id > ? ORDER BY id"),
    };
  }

  private get conn(): BetterSqlite3.Database {
    if (!this.db) throw new Error(`broker ${this.displayUrl} is not connected`);
    return this.db;
  }

  private writePublishes(batch: PendingPublish[]): void {
    const insert = this.stmts.insert;
    this.conn.transaction(() => {
      for (const p of batch) insert.run(p.queue, p.priority, p.visibleAt, p.envelope);
    })();
    this.mayHaveReady = true;
    this.signal?.notify();
  }

  /** Not async: a connected publish returns its batch's promise, shared by the sends of a tick (as Redis's). */
  publish(route: Route, message: Message, opts: PublishOptions = {}): Promise<void> {
    if (!this.db) return this.connect().then(() => this.publish(route, message, opts));
    try {
      const eta = opts.eta ?? 0;
      return this.publishes.add({
        queue: route.queue,
        priority: opts.priority ?? 0,
        visibleAt: eta > Date.now() ? eta : 0,
        envelope: toEnvelope(message),
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Makes due scheduled messages and expired leases ready again. */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    if (this.stmts.anyDue.get(now) && this.stmts.sweep.run(now).changes) {
      this.mayHaveReady = true;
      this.signal?.notify();
    }
  }

  /**
   * Whether a take could find anything. Taking is a write (it leases rows), so
   * an idle worker must not run it on every poll: it runs when another
   * process committed (PRAGMA data_version moved), when this connection wrote
   * something ready, or when the last take filled its batch.
   */
  private takeWorthwhile(queues: readonly string[]): boolean {
    const version = this.stmts.dataVersion.get() as number;
    const queuesKey = queues.join("\u0000");
    if (version !== this.seenVersion || queuesKey !== this.seenQueues) {
      this.seenVersion = version;
      this.seenQueues = queuesKey;
      this.mayHaveReady = true;
    }
    return this.mayHaveReady;
  }

  private take(queues: readonly string[], opts: FetchOptions): Delivery[] {
    const now = Date.now();
    this.sweep(now);
    if (!this.takeWorthwhile(queues)) return [];
    const rows: Row[] = [];
    for (const queue of queues) {
      const want = opts.max - rows.length;
      if (want <= 0) break;
      const got = (opts.lease ? this.stmts.lease.all(now + this.visibilityTimeout * 1000, queue, want) : this.stmts.take.all(queue, want)) as Row[];
      // RETURNING gives no order; restore the queue's order.
      got.sort((a, b) => b.priority - a.priority || a.id - b.id);
      for (const r of got) rows.push(r);
    }
    // A batch that came back short emptied every queue asked for.
    if (rows.length < opts.max) this.mayHaveReady = false;
    const out: Delivery[] = [];
    for (const r of rows) {
      out.push({
        // The delivery count fences the tag: a stale worker cannot ack a message re-leased to another.
        tag: `${r.id}:${r.deliveries + 1}`,
        queue: r.queue,
        // A row that does not parse is handed over all the same, saying why: the worker
        // drops it alone, and the rest of the batch (leased with it) runs.
        message: readEnvelope(r.envelope),
        redelivered: r.deliveries > 0,
      });
    }
    return out;
  }

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    if (!this.db) await this.connect();
    await this.publishes.flush();
    const deadline = Date.now() + opts.waitMs;
    let pause = POLL_MIN_MS;
    for (;;) {
      const got = this.take(queues, opts);
      const now = Date.now();
      if (got.length || this.closed || now >= deadline) return got;
      const signal = this.signal;
      if (signal?.listening) {
        // Woken by the next commit elsewhere; else by the next scheduled message or lease coming due.
        const due = (this.stmts.nextDue.get() as number | null) ?? Infinity;
        await signal.wait(Math.min(SIGNALLED_POLL_MS, deadline - now, Math.max(POLL_MIN_MS, due - now)));
      } else {
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(POLL_MAX_MS, pause * 2);
      }
    }
  }

  private static parseTag(tag: string): [number, number] {
    const [id, deliveries] = tag.split(":");
    return [Number(id), Number(deliveries)];
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    if (!deliveries.length) return;
    if (!this.db) throw new Error(`broker ${this.displayUrl} is not connected`);
    let written: Promise<void> | undefined;
    for (const d of deliveries) written = this.acks.add(SqliteBroker.parseTag(d.tag));
    return written;
  }

  private writeAcks(batch: [number, number][]): void {
    const ack = this.stmts.ack;
    this.conn.transaction(() => {
      for (const [id, deliveries] of batch) ack.run(id, deliveries);
    })();
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    const [id, n] = SqliteBroker.parseTag(delivery.tag);
    const changed = (requeue ? this.stmts.requeue : this.stmts.ack).run(id, n).changes;
    if (requeue) this.mayHaveReady = true;
    if (requeue && changed) this.signal?.notify();
    if (requeue && changed === 0) {
      // Taken without a lease (early ack): the row is gone, so write it anew.
      await this.publish({ queue: delivery.queue }, delivery.message);
    }
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    if (!deliveries.length) return;
    const until = Date.now() + this.visibilityTimeout * 1000;
    const extend = this.stmts.extend;
    this.conn.transaction(() => {
      for (const d of deliveries) extend.run(until, ...SqliteBroker.parseTag(d.tag));
    })();
  }

  async size(queue: string): Promise<number> {
    if (!this.db) await this.connect();
    await this.publishes.flush();
    return this.stmts.size.get(queue) as number;
  }

  async purge(queue: string): Promise<number> {
    if (!this.db) await this.connect();
    await this.publishes.flush();
    return this.stmts.purge.run(queue).changes;
  }

  async scheduled(queue: string, limit: number): Promise<{ total: number; messages: ScheduledMessage[] }> {
    if (!this.db) await this.connect();
    await this.publishes.flush();
    const rows = this.stmts.scheduled.all(queue, limit) as { visible_at: number; envelope: string }[];
    const messages: ScheduledMessage[] = [];
    for (const r of rows) {
      try {
        messages.push({ message: fromEnvelope(r.envelope), eta: r.visible_at });
      } catch {
        // A row that does not parse is reported by the worker that fetches it.
      }
    }
    return { total: this.stmts.scheduledCount.get(queue) as number, messages };
  }

  async releaseScheduled(queue: string, taskId: string): Promise<boolean> {
    if (!this.db) await this.connect();
    await this.publishes.flush();
    const released = this.stmts.release.run(queue, taskId).changes > 0;
    if (released) {
      this.mayHaveReady = true;
      this.signal?.notify();
    }
    return released;
  }

  async takeToken(key: string, perSecond: number): Promise<number> {
    if (!this.db) await this.connect();
    const s = this.stmts;
    // IMMEDIATE: read and update the bucket under one write lock, across processes.
    return this.conn
      .transaction((): number => {
        const now = Date.now();
        const row = s.bucketGet.get(key) as { tokens: number; updated_at: number } | undefined;
        const [tokens, wait] = tokenBucketStep(row?.tokens ?? 1, row?.updated_at ?? now, now, perSecond);
        s.bucketPut.run(key, tokens, now);
        return wait;
      })
      .immediate();
  }

  async publishFanout(exchange: string, routingKey: string, message: Message): Promise<void> {
    if (!this.db) await this.connect();
    const now = Date.now();
    this.stmts.fanoutInsert.run(exchange, routingKey, toEnvelope(message), now);
    if (Math.random() < 0.01) this.stmts.fanoutPrune.run(now - FANOUT_RETENTION_MS);
  }

  async subscribeFanout(exchange: string, pattern: string, handler: (m: Message, key: string) => void): Promise<() => Promise<void>> {
    if (!this.db) await this.connect();
    // Only messages published from now on, as with a pub/sub subscription.
    let cursor = this.stmts.fanoutLast.get() as number;
    const timer = setInterval(() => {
      if (!this.db) return;
      const rows = this.stmts.fanoutSince.all(exchange, cursor) as { id: number; routing_key: string; envelope: string }[];
      for (const r of rows) {
        cursor = r.id;
        if (!topicMatches(pattern, r.routing_key)) continue;
        try {
          handler(fromEnvelope(r.envelope), r.routing_key);
        } catch {
          // A bad fanout message must not stop the subscription.
        }
      }
    }, FANOUT_POLL_MS);
    timer.unref();
    this.subscriptions.add(timer);
    return async () => {
      clearInterval(timer);
      this.subscriptions.delete(timer);
    };
  }

  /** Message TTL and expiry are not kept: the queue lives until released. */
  async declareQueue(queue: BoundQueue): Promise<() => Promise<void>> {
    if (!this.db) await this.connect();
    this.stmts.bind.run(queue.exchange, queue.routingKey, queue.name);
    return async () => {
      if (!this.db) return;
      this.stmts.unbind.run(queue.exchange, queue.routingKey, queue.name);
      await this.purge(queue.name);
    };
  }

  async publishDirect(exchange: string, routingKey: string, message: Message): Promise<void> {
    if (!this.db) await this.connect();
    const queues = this.stmts.boundQueues.all(exchange, routingKey) as string[];
    await Promise.all(queues.map((queue) => this.publish({ queue }, message)));
  }

  async close(): Promise<void> {
    for (const t of this.subscriptions) clearInterval(t);
    this.subscriptions.clear();
    this.closed = true;
    if (!this.db) return;
    await this.publishes.flush();
    await this.acks.flush();
    this.signal?.wakeAll();
    this.signal?.release();
    this.signal = null;
    this.db.close();
    this.db = null;
  }
}
