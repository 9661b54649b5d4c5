// sqlite:// results: Celery's result meta as JSON, one row per task, with an
// expiry. Shares the file with the SQLite broker when both URLs name it.
import type BetterSqlite3 from "better-sqlite3";
import { maskUrl, sqlitePath } from "../url.js";
import { openDatabase } from "../util/sqlite.js";
import { WriteBatcher } from "../util/batcher.js";
import { encodeJson } from "../protocol/serializers.js";
import { PollingWaiter } from "./polling-waiter.js";
import type { BackendOptions, ResultBackend, ResultMeta, WaitOptions } from "./backend.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS celeriac_results (
  task_id TEXT PRIMARY KEY,
  meta TEXT NOT NULL,
  expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS celeriac_results_expiry ON celeriac_results (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS celeriac_groups (
  group_id TEXT PRIMARY KEY,
  task_ids TEXT NOT NULL,
  expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS celeriac_chord_parts (
  group_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  meta TEXT NOT NULL,
  PRIMARY KEY (group_id, idx)
);
-- The part that completed a chord, until its callback is sent (see chordJoin).
CREATE TABLE IF NOT EXISTS celeriac_chord_completions (
  group_id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL
);
`;

/** How often expired rows are deleted (ms). */
const CLEANUP_INTERVAL_MS = 60_000;

export class SqliteBackend implements ResultBackend {
  readonly displayUrl: string;
  private readonly path: string;
  private readonly expiresMs: number | null;
  private db: BetterSqlite3.Database | null = null;
  private stmts!: ReturnType<SqliteBackend["prepare"]>;
  /** Results encoded already (taskId, JSON text): a value that cannot be encoded fails its own store, not the batch it would join. */
  private readonly writes: WriteBatcher<[string, string]>;
  private readonly waiter: PollingWaiter;
  private lastCleanup = 0;

  constructor(url: string, opts: BackendOptions = {}) {
    this.displayUrl = maskUrl(url);
    this.path = sqlitePath(url);
    const expires = opts.resultExpires === undefined ? 86_400 : opts.resultExpires;
    this.expiresMs = expires ? expires * 1000 : null;
    this.writes = new WriteBatcher((batch) => this.writeResults(batch));
    this.waiter = new PollingWaiter((ids) => this.getMany(ids));
  }

  async connect(): Promise<void> {
    if (this.db) return;
    this.db = openDatabase(this.path, SCHEMA);
    this.stmts = this.prepare(this.db);
  }

  private prepare(db: BetterSqlite3.Database) {
    return {
      upsert: db.prepare(
        "INSERT INTO celeriac_results (task_id, meta, expires_at) VALUES (?, ?, ?) " +
          "ON CONFLICT (task_id) DO UPDATE SET meta = excluded.meta, expires_at = excluded.expires_at",
      ),
      get: db.prepare("SELECT meta FROM celeriac_results WHERE task_id = ? AND (expires_at IS NULL OR expires_at > ?)").pluck(),
      forget: db.prepare("DELETE FROM celeriac_results WHERE task_id = ?"),
      cleanup: db.prepare("DELETE FROM celeriac_results WHERE expires_at IS NOT NULL AND expires_at <= ?"),
      saveGroup: db.prepare(
        "INSERT INTO celeriac_groups (group_id, task_ids, expires_at) VALUES (?, ?, ?) " +
          "ON CONFLICT (group_id) DO UPDATE SET task_ids = excluded.task_ids, expires_at = excluded.expires_at",
      ),
      restoreGroup: db.prepare("SELECT task_ids FROM celeriac_groups WHERE group_id = ?").pluck(),
      deleteGroup: db.prepare("DELETE FROM celeriac_groups WHERE group_id = ?"),
      addPart: db.prepare("INSERT OR REPLACE INTO celeriac_chord_parts (group_id, idx, meta) VALUES (?, ?, ?)"),
      countParts: db.prepare("SELECT count(*) FROM celeriac_chord_parts WHERE group_id = ?").pluck(),
      allParts: db.prepare("SELECT meta FROM celeriac_chord_parts WHERE group_id = ? ORDER BY idx").pluck(),
      deleteParts: db.prepare("DELETE FROM celeriac_chord_parts WHERE group_id = ?"),
      completedBy: db.prepare("SELECT task_id FROM celeriac_chord_completions WHERE group_id = ?").pluck(),
      complete: db.prepare("INSERT OR REPLACE INTO celeriac_chord_completions (group_id, task_id) VALUES (?, ?)"),
      deleteCompletion: db.prepare("DELETE FROM celeriac_chord_completions WHERE group_id = ?"),
    };
  }

  private get conn(): BetterSqlite3.Database {
    if (!this.db) throw new Error(`result backend ${this.displayUrl} is not connected`);
    return this.db;
  }

  private expiresAt(): number | null {
    return this.expiresMs === null ? null : Date.now() + this.expiresMs;
  }

  private writeResults(batch: [string, string][]): void {
    const upsert = this.stmts.upsert;
    const expiresAt = this.expiresAt();
    const now = Date.now();
    this.conn.transaction(() => {
      for (const [taskId, text] of batch) upsert.run(taskId, text, expiresAt);
      if (now - this.lastCleanup > CLEANUP_INTERVAL_MS) {
        this.lastCleanup = now;
        this.stmts.cleanup.run(now);
      }
    })();
  }

  async store(meta: ResultMeta): Promise<void> {
    const text = encodeJson(meta);
    if (!this.db) await this.connect();
    return this.writes.add([meta.task_id, text]);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    if (!this.db) await this.connect();
    await this.writes.flush();
    const text = this.stmts.get.get(taskId, Date.now()) as string | undefined;
    return text ? (JSON.parse(text) as ResultMeta) : null;
  }

  private async getMany(ids: string[]): Promise<Map<string, ResultMeta>> {
    if (!this.db) await this.connect();
    const out = new Map<string, ResultMeta>();
    const now = Date.now();
    // Chunks keep each statement under SQLite's bound-parameter limit.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.conn
        .prepare(
          `SELECT task_id, meta FROM celeriac_results WHERE task_id IN (${chunk.map(() => "?").join(",")}) AND (expires_at IS NULL OR expires_at > ?)`,
        )
        .all(...chunk, now) as { task_id: string; meta: string }[];
      for (const r of rows) out.set(r.task_id, JSON.parse(r.meta) as ResultMeta);
    }
    return out;
  }

  waitFor(taskId: string, opts?: WaitOptions): Promise<ResultMeta> {
    return this.waiter.wait(taskId, opts);
  }

  async forget(taskId: string): Promise<void> {
    if (!this.db) await this.connect();
    await this.writes.flush();
    this.stmts.forget.run(taskId);
  }

  async saveGroup(groupId: string, taskIds: readonly string[]): Promise<void> {
    if (!this.db) await this.connect();
    this.stmts.saveGroup.run(groupId, JSON.stringify(taskIds), this.expiresAt());
  }

  async restoreGroup(groupId: string): Promise<string[] | null> {
    if (!this.db) await this.connect();
    const text = this.stmts.restoreGroup.get(groupId) as string | undefined;
    return text ? (JSON.parse(text) as string[]) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    if (!this.db) await this.connect();
    this.stmts.deleteGroup.run(groupId);
  }

  async chordJoin(groupId: string, index: number, size: number, meta: ResultMeta): Promise<ResultMeta[] | null> {
    if (!this.db) await this.connect();
    const s = this.stmts;
    // IMMEDIATE: the count and the completion happen under one write lock, so one part completes the chord.
    return this.conn
      .transaction((): ResultMeta[] | null => {
        s.addPart.run(groupId, index, encodeJson(meta));
        if ((s.countParts.get(groupId) as number) < size) return null;
        const by = s.completedBy.get(groupId) as string | undefined;
        if (by !== undefined && by !== meta.task_id) return null;
        s.complete.run(groupId, meta.task_id);
        return (s.allParts.all(groupId) as string[]).map((t) => JSON.parse(t) as ResultMeta);
      })
      .immediate();
  }

  async chordDone(groupId: string): Promise<void> {
    if (!this.db) await this.connect();
    const s = this.stmts;
    this.conn
      .transaction(() => {
        s.deleteParts.run(groupId);
        s.deleteCompletion.run(groupId);
      })
      .immediate();
  }

  async close(): Promise<void> {
    if (!this.db) return;
    await this.writes.flush();
    this.db.close();
    this.db = null;
  }
}
