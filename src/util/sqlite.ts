// Opens a SQLite file the way every Celeriac store wants it: WAL so readers
// and one writer work at once across processes, a busy timeout so concurrent
// writers wait instead of failing, and NORMAL sync (durable across a process
// crash; a power loss may lose the last commits, as with Redis' default).
import Database from "better-sqlite3";
import type BetterSqlite3 from "better-sqlite3";

export function openDatabase(path: string, schema: string): BetterSqlite3.Database {
  const db = new Database(path, { timeout: 10_000 });
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 10000");
  // Several processes may create the schema at once; the IMMEDIATE lock serialises them.
  db.transaction(() => db.exec(schema)).immediate();
  return db;
}
