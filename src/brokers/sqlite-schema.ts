// The embedded broker's tables (brokers/sqlite.ts): messages (one row per
// message; visible_at carries both ETA and leases), rate-limit buckets, fanout
// messages and reply-queue bindings. Migration steps in order, never edited
// once released (see util/sqlite-schema.ts); step 1 is the schema from before versioning.
import type { VersionedSchema } from "../util/sqlite-schema.js";

export const SCHEMA: VersionedSchema = {
  component: "broker",
  migrations: [
    `
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
`,
    // 2: reply queues bound to an exchange by key (Broker.declareQueue).
    `
CREATE TABLE IF NOT EXISTS celeriac_bindings (
  exchange TEXT NOT NULL,
  routing_key TEXT NOT NULL,
  queue TEXT NOT NULL,
  PRIMARY KEY (exchange, routing_key, queue)
);
`,
  ],
};
