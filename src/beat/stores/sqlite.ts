// sqlite:// — beat state in a SQLite file, by default the broker's own file,
// so a single-machine deployment needs nothing more. Every lease and claim
// step is one IMMEDIATE transaction: SQLite serialises them across processes.
// Times come from the callers' clocks, which on one machine are one clock.
import type BetterSqlite3 from "better-sqlite3";
import { maskUrl, sqlitePath } from "../../url.js";
import { openDatabase } from "../../util/sqlite.js";
import type { VersionedSchema } from "../../util/sqlite-schema.js";
import type { StoredBeatEntry } from "../entry.js";
import type { BeatStore, BeatStoreOptions, ClaimResult, LeaseInfo } from "../store.js";

// Migration steps in order (see util/sqlite-schema.ts); step 1 is the schema from before versioning.
const SCHEMA: VersionedSchema = {
  component: "beat",
  migrations: [
    `
CREATE TABLE IF NOT EXISTS celeriac_beat_lease (
  namespace TEXT PRIMARY KEY,
  holder TEXT,
  token INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS celeriac_beat_ticks (
  namespace TEXT NOT NULL,
  entry TEXT NOT NULL,
  last_tick INTEGER NOT NULL,
  PRIMARY KEY (namespace, entry)
);
CREATE TABLE IF NOT EXISTS celeriac_beat_entries (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  entry TEXT NOT NULL,
  PRIMARY KEY (namespace, name)
);
`,
  ],
};

interface LeaseRow {
  holder: string | null;
  token: number;
  expires_at: number;
}

export class SqliteBeatStore implements BeatStore {
  readonly displayUrl: string;
  private readonly path: string;
  private readonly ns: string;
  private db: BetterSqlite3.Database | null = null;
  private stmts!: ReturnType<SqliteBeatStore["prepare"]>;

  constructor(url: string, opts: BeatStoreOptions) {
    this.displayUrl = maskUrl(url);
    this.path = sqlitePath(url);
    this.ns = opts.namespace;
  }

  async connect(): Promise<void> {
    if (this.db) return;
    this.db = openDatabase(this.path, SCHEMA);
    this.stmts = this.prepare(this.db);
  }

  private prepare(db: BetterSqlite3.Database) {
    return {
      lease: db.prepare("SELECT holder, token, expires_at FROM celeriac_beat_lease WHERE namespace = ?"),
      setLease: db.prepare(
        `INSERT INTO celeriac_beat_lease (namespace, holder, token, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (namespace) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at`,
      ),
      release: db.prepare("UPDATE celeriac_beat_lease SET holder = NULL, expires_at = 0 WHERE namespace = ? AND holder = ? AND token = ?"),
      ticks: db.prepare("SELECT entry, last_tick FROM celeriac_beat_ticks WHERE namespace = ?"),
      tick: db.prepare("SELECT last_tick FROM celeriac_beat_ticks WHERE namespace = ? AND entry = ?").pluck(),
      setTick: db.prepare(
        `INSERT INTO celeriac_beat_ticks (namespace, entry, last_tick) VALUES (?, ?, ?)
         ON CONFLICT (namespace, entry) DO UPDATE SET last_tick = excluded.last_tick`,
      ),
      unclaim: db.prepare("UPDATE celeriac_beat_ticks SET last_tick = ? WHERE namespace = ? AND entry = ? AND last_tick = ?"),
      deleteTicks: db.prepare("DELETE FROM celeriac_beat_ticks WHERE namespace = ? AND entry = ?"),
      entries: db.prepare("SELECT entry FROM celeriac_beat_entries WHERE namespace = ? ORDER BY name").pluck(),
      putEntry: db.prepare(
        `INSERT INTO celeriac_beat_entries (namespace, name, entry) VALUES (?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET entry = excluded.entry`,
      ),
      deleteEntry: db.prepare("DELETE FROM celeriac_beat_entries WHERE namespace = ? AND name = ?"),
    };
  }

  private get conn(): BetterSqlite3.Database {
    if (!this.db) throw new Error(`beat store ${this.displayUrl} is not connected`);
    return this.db;
  }

  async acquireLease(holder: string, ttlMs: number, now: number): Promise<number | null> {
    return this.conn
      .transaction((): number | null => {
        const row = this.stmts.lease.get(this.ns) as LeaseRow | undefined;
        if (row && row.holder !== null && row.expires_at > now) {
          if (row.holder !== holder) return null;
          this.stmts.setLease.run(this.ns, holder, row.token, now + ttlMs);
          return row.token;
        }
        const token = (row?.token ?? 0) + 1;
        this.stmts.setLease.run(this.ns, holder, token, now + ttlMs);
        return token;
      })
      .immediate();
  }

  async releaseLease(holder: string, token: number): Promise<void> {
    this.stmts.release.run(this.ns, holder, token);
  }

  async lease(now: number): Promise<LeaseInfo | null> {
    const row = this.stmts.lease.get(this.ns) as LeaseRow | undefined;
    if (!row || row.holder === null || row.expires_at <= now) return null;
    return { holder: row.holder, token: row.token, expiresAt: row.expires_at };
  }

  async lastTicks(): Promise<Map<string, number>> {
    const rows = this.stmts.ticks.all(this.ns) as { entry: string; last_tick: number }[];
    return new Map(rows.map((r) => [r.entry, r.last_tick]));
  }

  async claimTick(entry: string, tick: number, token: number, now: number): Promise<ClaimResult> {
    return this.conn
      .transaction((): ClaimResult => {
        const lease = this.stmts.lease.get(this.ns) as LeaseRow | undefined;
        if (!lease || lease.token !== token || lease.holder === null || lease.expires_at <= now) return "fenced";
        const last = this.stmts.tick.get(this.ns, entry) as number | undefined;
        if (last !== undefined && last >= tick) return "done";
        this.stmts.setTick.run(this.ns, entry, tick);
        return "claimed";
      })
      .immediate();
  }

  async unclaimTick(entry: string, tick: number, previous: number, token: number, now: number): Promise<boolean> {
    return this.conn
      .transaction((): boolean => {
        const lease = this.stmts.lease.get(this.ns) as LeaseRow | undefined;
        if (!lease || lease.token !== token || lease.holder === null || lease.expires_at <= now) return false;
        return this.stmts.unclaim.run(previous, this.ns, entry, tick).changes > 0;
      })
      .immediate();
  }

  async listEntries(): Promise<StoredBeatEntry[]> {
    return (this.stmts.entries.all(this.ns) as string[]).map((text) => JSON.parse(text) as StoredBeatEntry);
  }

  async putEntry(entry: StoredBeatEntry): Promise<void> {
    this.stmts.putEntry.run(this.ns, entry.name, JSON.stringify(entry));
  }

  async removeEntry(name: string): Promise<boolean> {
    return this.conn
      .transaction(() => {
        if (this.stmts.deleteEntry.run(this.ns, name).changes === 0) return false;
        this.stmts.deleteTicks.run(this.ns, name);
        return true;
      })
      .immediate();
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
  }
}
