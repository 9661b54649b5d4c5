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
import { WriteBatcher } from "../util/batcher.js";
import { tokenBucketStep, topicMatches, type Broker, type BrokerOptions, type Delivery, type FetchOptions, type PublishOptions, type Route } from "./broker.js";
import { maskUrl, sqlitePath } from "../url.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS celeriac_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  visible_at INTEGER NOT NULL DEFAULT 0,
  deliveries INTEGER NOT NULL DEFAULT 0,
  envelope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS celeriac_messages_ready ON celeriac_messages (queue, visible_at, priority DESC, id);
CREATE INDEX IF NOT EXISTS celeriac_messages_due ON celeriac_messages (visible_at) WHERE visible_at > 0;
CREATE TABLE IF NOT EXISTS celeriac_rate_buckets (
  key TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS celeriac_fanout (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  exchange TEXT NOT NULL,
  routing_key TEXT NOT NULL,
  envelope TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
`;

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
/** Idle polling interval bounds while waiting for messages (ms). */
const POLL_MIN_MS = 1;
const POLL_MAX_MS = 4;

export class SqliteBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = true;
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

  constructor(url: string, opts: BrokerOptions = {}) {
    this.displayUrl = maskUrl(url);
    this.path = sqlitePath(url);
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    // Publishes made in one tick are written in one transaction.
    this.publishes = new WriteBatcher((batch) => this.writePublishes(batch));
  }

  async connect(): Promise<void> {
    if (this.db) return;
    this.db = openDatabase(this.path, SCHEMA);
    this.stmts = this.prepare(this.db);
  }

  private prepare(db: BetterSqlite3.Database) {
    return {
      insert: db.prepare(
        "INSERT INTO celeriac_messages (queue, priority, visible_at, envelope) VALUES (?, ?, ?, ?)",
      ),
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
      anyDue: db.prepare("SELECT 1 FROM celeriac_messages WHERE visible_at > 0 AND visible_at <= ? LIMIT 1").pluck(),
      sweep: db.prepare("UPDATE celeriac_messages SET visible_at = 0 WHERE visible_at > 0 AND visible_at <= ?"),
      ack: db.prepare("DELETE FROM celeriac_messages WHERE id = ? AND deliveries = ?"),
      requeue: db.prepare("UPDATE celeriac_messages SET visible_at = 0 WHERE id = ? AND deliveries = ?"),
      extend: db.prepare("UPDATE celeriac_messages SET visible_at = ? WHERE id = ? AND deliveries = ? AND visible_at > 0"),
      size: db.prepare("SELECT count(*) FROM celeriac_messages WHERE queue = ? AND visible_at = 0").pluck(),
      purge: db.prepare("DELETE FROM celeriac_messages WHERE queue = ?"),
      bucketGet: db.prepare("SELECT tokens, updated_at FROM celeriac_rate_buckets WHERE key = ?"),
      bucketPut: db.prepare(
        "INSERT INTO celeriac_rate_buckets (key, tokens, updated_at) VALUES (?, ?, ?) " +
          "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
      ),
      fanoutInsert: db.prepare("INSERT INTO celeriac_fanout (exchange, routing_key, envelope, created_at) VALUES (?, ?, ?, ?)"),
      fanoutPrune: db.prepare("DELETE FROM celeriac_fanout WHERE created_at < ?"),
      fanoutLast: db.prepare("SELECT coalesce(max(id), 0) FROM celeriac_fanout").pluck(),
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
    if (this.stmts.anyDue.get(now) && this.stmts.sweep.run(now).changes) this.mayHaveReady = true;
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
      const got = (
        opts.lease
          ? this.stmts.lease.all(now + this.visibilityTimeout * 1000, queue, want)
          : this.stmts.take.all(queue, want)
      ) as Row[];
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
      if (got.length || this.closed || Date.now() >= deadline) return got;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(POLL_MAX_MS, pause * 2);
    }
  }

  private static parseTag(tag: string): [number, number] {
    const [id, deliveries] = tag.split(":");
    return [Number(id), Number(deliveries)];
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    if (!deliveries.length) return;
    const ack = this.stmts.ack;
    this.conn.transaction(() => {
      for (const d of deliveries) ack.run(...SqliteBroker.parseTag(d.tag));
    })();
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    const [id, n] = SqliteBroker.parseTag(delivery.tag);
    const changed = (requeue ? this.stmts.requeue : this.stmts.ack).run(id, n).changes;
    if (requeue) this.mayHaveReady = true;
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

  async close(): Promise<void> {
    for (const t of this.subscriptions) clearInterval(t);
    this.subscriptions.clear();
    this.closed = true;
    if (!this.db) return;
    await this.publishes.flush();
    this.db.close();
    this.db = null;
  }
}
