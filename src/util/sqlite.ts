// Opens a SQLite file the way every Celeriac store wants it: WAL so readers
// and one writer work at once across processes, a busy timeout so concurrent
// writers wait instead of failing, and NORMAL sync (durable across a process
// crash; a power loss may lose the last commits, as with Redis' default).
import type BetterSqlite3 from "better-sqlite3";
import { requireOptional } from "./optional-package.js";
import { migrate, type VersionedSchema } from "./sqlite-schema.js";

// Loaded on the first open, not on import: an install that left the native
// build out (npm install --omit=optional, for Redis or RabbitMQ only) still
// imports celeriac.
let Database: typeof BetterSqlite3 | undefined;

export function openDatabase(path: string, schema: VersionedSchema): BetterSqlite3.Database {
  Database ??= requireOptional<typeof BetterSqlite3>("better-sqlite3", "sqlite:// URLs (the default broker and result backend) and the dashboard's history");
  const db = new Database(path, { timeout: 10_000 });
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 10000");
    migrate(db, path, schema);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
