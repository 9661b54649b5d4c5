// sqlite:// results: Celery's result meta as JSON, one row per task, with an
// expiry. Shares the file with the SQLite broker when both URLs name it.
import type BetterSqlite3 from "better-sqlite3";
import { maskUrl, sqlitePath } from "../url.js";
import { openDatabase } from "../util/sqlite.js";
import type { VersionedSchema } from "../util/sqlite-schema.js";
import { WriteBatcher } from "../util/batcher.js";
import { encodeJson } from "../protocol/serializers.js";
import { PollingWaiter } from "./polling-waiter.js";
import { CommitSignal } from "../util/commit-signal.js";
import type { BackendOptions, ResultBackend, ResultMeta, WaitOptions } from "./backend.js";
import type { ResultTuple } from "../result.js";
import type { TaskLogLine } from "../worker/task-log.js";

// Migration steps in order (see util/sqlite-schema.ts); step 1 is the schema from before versioning.
const SCHEMA: VersionedSchema = {
  component: "backend",
  migrations: [
    `
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
`,
    // Parts keyed by task id too: a task added to a chord (addToChord) shares its adder's group index.
    // And how many tasks were added to each chord, beyond its size. (IF NOT EXISTS: re-run safely on a file whose version row was lost.)
    `
CREATE TABLE IF NOT EXISTS celeriac_chord_parts_v2 (
  group_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  task_id TEXT NOT NULL,
  meta TEXT NOT NULL,
  PRIMARY KEY (group_id, idx, task_id)
);
INSERT INTO celeriac_chord_parts_v2 (group_id, idx, task_id, meta)
  SELECT group_id, idx, coalesce(json_extract(meta, '$.task_id'), ''), meta FROM celeriac_chord_parts;
DROP TABLE celeriac_chord_parts;
ALTER TABLE celeriac_chord_parts_v2 RENAME TO celeriac_chord_parts;
CREATE TABLE IF NOT EXISTS celeriac_chord_additions (
  group_id TEXT PRIMARY KEY,
  added INTEGER NOT NULL
);
`,
    // The lines tasks logged (this.log), kept with their results.
    `
CREATE TABLE IF NOT EXISTS celeriac_task_logs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  line TEXT NOT NULL,
  expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS celeriac_task_logs_task ON celeriac_task_logs (task_id, seq);
`,
  ],
};

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
  /** Wakes a pending get() when another process stores a result (see util/commit-signal.ts). */
  private signal: CommitSignal | null = null;

  constructor(url: string, opts: BackendOptions = {}) {
    this.displayUrl = maskUrl(url);
    this.path = sqlitePath(url);
    const expires = opts.resultExpires === undefined ? 86_400 : opts.resultExpires;
    this.expiresMs = expires ? expires * 1000 : null;
    this.writes = new WriteBatcher((batch) => this.writeResults(batch));
    this.waiter = new PollingWaiter(
      (ids) => this.getMany(ids),
      () => this.signal,
    );
  }

  async connect(): Promise<void> {
    if (this.db) return;
    this.db = openDatabase(this.path, SCHEMA);
    this.stmts = this.prepare(this.db);
    this.signal = CommitSignal.acquire(this.path);
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
      cleanupLogs: db.prepare("DELETE FROM celeriac_task_logs WHERE expires_at IS NOT NULL AND expires_at <= ?"),
      addLogLine: db.prepare("INSERT INTO celeriac_task_logs (task_id, line, expires_at) VALUES (?, ?, ?)"),
      // Past the newest maxLines of the task, oldest first.
      trimLog: db.prepare(
        "DELETE FROM celeriac_task_logs WHERE task_id = ? AND seq <= (SELECT seq FROM celeriac_task_logs WHERE task_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
      ),
      getLog: db.prepare("SELECT line FROM celeriac_task_logs WHERE task_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq").pluck(),
      forgetLog: db.prepare("DELETE FROM celeriac_task_logs WHERE task_id = ?"),
      saveGroup: db.prepare(
        "INSERT INTO celeriac_groups (group_id, task_ids, expires_at) VALUES (?, ?, ?) " +
          "ON CONFLICT (group_id) DO UPDATE SET task_ids = excluded.task_ids, expires_at = excluded.expires_at",
      ),
      restoreGroup: db.prepare("SELECT task_ids FROM celeriac_groups WHERE group_id = ?").pluck(),
      deleteGroup: db.prepare("DELETE FROM celeriac_groups WHERE group_id = ?"),
      addPart: db.prepare("INSERT OR REPLACE INTO celeriac_chord_parts (group_id, idx, task_id, meta) VALUES (?, ?, ?, ?)"),
      countParts: db.prepare("SELECT count(*) FROM celeriac_chord_parts WHERE group_id = ?").pluck(),
      addToChord: db.prepare("INSERT INTO celeriac_chord_additions (group_id, added) VALUES (?, 1) ON CONFLICT (group_id) DO UPDATE SET added = added + 1"),
      added: db.prepare("SELECT added FROM celeriac_chord_additions WHERE group_id = ?").pluck(),
      deleteAdditions: db.prepare("DELETE FROM celeriac_chord_additions WHERE group_id = ?"),
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
        this.stmts.cleanupLogs.run(now);
      }
    })();
    this.signal?.notify();
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
        .prepare(`SELECT task_id, meta FROM celeriac_results WHERE task_id IN (${chunk.map(() => "?").join(",")}) AND (expires_at IS NULL OR expires_at > ?)`)
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
    this.stmts.forgetLog.run(taskId);
  }

  async appendLog(taskId: string, lines: readonly TaskLogLine[], maxLines: number): Promise<void> {
    if (!this.db) await this.connect();
    const s = this.stmts;
    const expiresAt = this.expiresAt();
    this.conn.transaction(() => {
      for (const line of lines) s.addLogLine.run(taskId, encodeJson(line), expiresAt);
      s.trimLog.run(taskId, taskId, maxLines);
    })();
  }

  async getLog(taskId: string): Promise<TaskLogLine[]> {
    if (!this.db) await this.connect();
    return (this.stmts.getLog.all(taskId, Date.now()) as string[]).map((t) => JSON.parse(t) as TaskLogLine);
  }

  async saveGroup(groupId: string, members: readonly ResultTuple[]): Promise<void> {
    if (!this.db) await this.connect();
    this.stmts.saveGroup.run(groupId, JSON.stringify(members), this.expiresAt());
  }

  async restoreGroup(groupId: string): Promise<ResultTuple[] | null> {
    if (!this.db) await this.connect();
    const text = this.stmts.restoreGroup.get(groupId) as string | undefined;
    // Rows saved before groups were kept as result tuples hold bare task ids.
    return text ? (JSON.parse(text) as (ResultTuple | string)[]).map((m): ResultTuple => (typeof m === "string" ? [[m, null], null] : m)) : null;
  }

  async deleteGroup(groupId: string): Promise<void> {
    if (!this.db) await this.connect();
    this.stmts.deleteGroup.run(groupId);
  }

  async addToChord(groupId: string): Promise<void> {
    if (!this.db) await this.connect();
    this.stmts.addToChord.run(groupId);
  }

  async chordJoin(groupId: string, index: number, size: number, meta: ResultMeta): Promise<ResultMeta[] | null> {
    if (!this.db) await this.connect();
    const s = this.stmts;
    // IMMEDIATE: the count and the completion happen under one write lock, so one part completes the chord.
    return this.conn
      .transaction((): ResultMeta[] | null => {
        s.addPart.run(groupId, index, meta.task_id, encodeJson(meta));
        const added = (s.added.get(groupId) as number | undefined) ?? 0;
        if ((s.countParts.get(groupId) as number) < size + added) return null;
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
        s.deleteAdditions.run(groupId);
      })
      .immediate();
  }

  async close(): Promise<void> {
    if (!this.db) return;
    await this.writes.flush();
    this.signal?.release();
    this.signal = null;
    this.db.close();
    this.db = null;
  }
}
