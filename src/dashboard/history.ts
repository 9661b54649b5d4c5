// The dashboard's task history: every task it has seen, kept in an SQLite
// file of its own so the list survives a restart (Flower keeps none), bounded
// by age and count, with paging and search done by SQLite. The events are
// still folded in memory (events/state.ts); this keeps what they came to.
import type BetterSqlite3 from "better-sqlite3";
import type { TaskFilter, TaskState } from "../events/state.js";
import { ConfigurationError, SchemaTooNew } from "../errors.js";
import { openDatabase } from "../util/sqlite.js";
import type { VersionedSchema } from "../util/sqlite-schema.js";

const SCHEMA: VersionedSchema = {
  component: "dashboard",
  migrations: [
    `
CREATE TABLE IF NOT EXISTS celeriac_dashboard_tasks (
  uuid TEXT PRIMARY KEY,
  name TEXT,
  state TEXT NOT NULL,
  worker TEXT,
  at REAL NOT NULL,
  hay TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS celeriac_dashboard_tasks_at ON celeriac_dashboard_tasks (at);
CREATE INDEX IF NOT EXISTS celeriac_dashboard_tasks_state ON celeriac_dashboard_tasks (state, at);
CREATE INDEX IF NOT EXISTS celeriac_dashboard_tasks_name ON celeriac_dashboard_tasks (name, at);
`,
  ],
};

/** The states after which a task changes no more. */
export const FINISHED = ["SUCCESS", "FAILURE", "REVOKED", "REJECTED"];

export interface HistoryOptions {
  /** The SQLite file. */
  path: string;
  /** Tasks older than this are dropped (seconds; default 7 days). */
  maxAgeSeconds?: number;
  /** At most this many tasks are kept, the newest (default 100,000). */
  maxTasks?: number;
}

export interface HistoryPage {
  tasks: TaskState[];
  /** How many tasks match the filter in all. */
  total: number;
}

/** When a task happened, for ordering and the time filter. */
export function taskTime(t: TaskState): number {
  return t.timestamp ?? t.received ?? t.sent ?? 0;
}

/** What the search looks through: id, name, arguments, result and error, lowercased. */
export function searchText(t: TaskState): string {
  return [t.uuid, t.name, t.args, t.kwargs, t.result, t.exception].filter(Boolean).join(" ").toLowerCase();
}

const PRUNE_EVERY_MS = 60_000;

export class TaskHistory {
  readonly path: string;
  private readonly maxAgeSeconds: number;
  private readonly maxTasks: number;
  private db: BetterSqlite3.Database | null = null;
  private stmts!: ReturnType<TaskHistory["prepare"]>;
  private lastPrune = 0;

  constructor(opts: HistoryOptions) {
    this.path = opts.path;
    this.maxAgeSeconds = opts.maxAgeSeconds ?? 7 * 86_400;
    this.maxTasks = opts.maxTasks ?? 100_000;
  }

  open(): void {
    try {
      this.db = openDatabase(this.path, SCHEMA);
    } catch (err) {
      if (err instanceof SchemaTooNew) throw err;
      throw new ConfigurationError(`the dashboard history ${this.path} cannot be opened: ${(err as Error).message} (give another --history file)`, {
        cause: err,
      });
    }
    this.stmts = this.prepare(this.db);
    this.prune();
  }

  private prepare(db: BetterSqlite3.Database) {
    return {
      upsert: db.prepare(
        "INSERT INTO celeriac_dashboard_tasks (uuid, name, state, worker, at, hay, data) VALUES (?, ?, ?, ?, ?, ?, ?) " +
          "ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, state = excluded.state, worker = excluded.worker, at = excluded.at, hay = excluded.hay, data = excluded.data",
      ),
      get: db.prepare("SELECT data FROM celeriac_dashboard_tasks WHERE uuid = ?").pluck(),
      recent: db.prepare("SELECT data FROM (SELECT data, at FROM celeriac_dashboard_tasks ORDER BY at DESC LIMIT ?) ORDER BY at").pluck(),
      names: db.prepare("SELECT DISTINCT name FROM celeriac_dashboard_tasks WHERE name IS NOT NULL ORDER BY name").pluck(),
      pruneAge: db.prepare("DELETE FROM celeriac_dashboard_tasks WHERE at < ?"),
      cleanFinished: db.prepare(`DELETE FROM celeriac_dashboard_tasks WHERE at < ? AND state IN (${FINISHED.map(() => "?").join(", ")})`),
      pruneCount: db.prepare("DELETE FROM celeriac_dashboard_tasks WHERE at <= (SELECT at FROM celeriac_dashboard_tasks ORDER BY at DESC LIMIT 1 OFFSET ?)"),
    };
  }

  private get conn(): BetterSqlite3.Database {
    if (!this.db) throw new Error(`the dashboard history ${this.path} is not open`);
    return this.db;
  }

  /** Stores the latest state of these tasks (one transaction). */
  save(tasks: readonly TaskState[]): void {
    if (!tasks.length) return;
    const upsert = this.stmts.upsert;
    this.conn.transaction(() => {
      for (const t of tasks) upsert.run(t.uuid, t.name, t.state, t.worker, taskTime(t), searchText(t), JSON.stringify(t));
    })();
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) this.prune();
  }

  /** Drops what is past the age and count bounds. */
  prune(now = Date.now() / 1000): void {
    this.lastPrune = Date.now();
    this.stmts.pruneAge.run(now - this.maxAgeSeconds);
    this.stmts.pruneCount.run(this.maxTasks);
  }

  get(id: string): TaskState | null {
    const text = this.stmts.get.get(id) as string | undefined;
    return text ? (JSON.parse(text) as TaskState) : null;
  }

  /** The newest `n` tasks, oldest first: what the in-memory state starts from. */
  recent(n: number): TaskState[] {
    return (this.stmts.recent.all(n) as string[]).map((t) => JSON.parse(t) as TaskState);
  }

  names(): string[] {
    return this.stmts.names.all() as string[];
  }

  /** Tasks matching the filter, newest first, `limit` of them from `offset`. */
  /** Removes finished tasks (succeeded, failed, revoked, rejected) last seen before `before` (epoch s); returns how many. */
  cleanFinished(before: number): number {
    return this.stmts.cleanFinished.run(before, ...FINISHED).changes;
  }

  list(filter: TaskFilter, offset = 0): HistoryPage {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      where.push(sql);
      params.push(value);
    };
    if (filter.name) add("name = ?", filter.name);
    if (filter.state) add("state = ?", filter.state);
    if (filter.worker) add("worker = ?", filter.worker);
    if (filter.since !== undefined) add("at >= ?", filter.since);
    if (filter.until !== undefined) add("at <= ?", filter.until);
    // A substring, not a pattern: the user's % and _ are escaped.
    if (filter.search) add("hay LIKE ? ESCAPE '\\'", `%${filter.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
    const db = this.conn;
    const total = db
      .prepare(`SELECT count(*) FROM celeriac_dashboard_tasks ${clause}`)
      .pluck()
      .get(...params) as number;
    const rows = db
      .prepare(`SELECT data FROM celeriac_dashboard_tasks ${clause} ORDER BY at DESC LIMIT ? OFFSET ?`)
      .pluck()
      .all(...params, filter.limit ?? 100, offset) as string[];
    return { tasks: rows.map((t) => JSON.parse(t) as TaskState), total };
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}
