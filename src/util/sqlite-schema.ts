// Numbered schema migrations for the SQLite stores. Broker, backend and beat
// may share one file, so PRAGMA user_version (one number per file) cannot
// track them: each component has its row in celeriac_schema. A file made
// before this existed has no row, so it starts at version 0 and gets step 1,
// which is the schema of that time (CREATE … IF NOT EXISTS): it opens unchanged.
import type BetterSqlite3 from "better-sqlite3";
import { SchemaTooNew } from "../errors.js";

export interface VersionedSchema {
  /** The row in celeriac_schema: "broker", "backend", "beat". */
  component: string;
  /** SQL steps in order; step i takes the component from version i to i + 1. Never edit a released step, add one. */
  migrations: readonly string[];
}

/**
 * Brings the component's tables to the newest version this code knows. Runs
 * in one IMMEDIATE transaction: processes opening the file at once wait for
 * each other (busy timeout) and each step runs exactly once.
 */
export function migrate(db: BetterSqlite3.Database, path: string, schema: VersionedSchema): void {
  const known = schema.migrations.length;
  db.transaction(() => {
    db.exec("CREATE TABLE IF NOT EXISTS celeriac_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    const found = (db.prepare("SELECT version FROM celeriac_schema WHERE component = ?").pluck().get(schema.component) as number | undefined) ?? 0;
    if (found > known) throw new SchemaTooNew(path, schema.component, found, known);
    if (found === known) return;
    for (const step of schema.migrations.slice(found)) db.exec(step);
    db.prepare("INSERT INTO celeriac_schema (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version").run(
      schema.component,
      known,
    );
  }).immediate();
}
