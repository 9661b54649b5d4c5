// The hostile-message suite on SQLite, against a real worker process: rows
// written straight into the messages table, a malformed one among good ones.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { describe, it } from "node:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteBroker } from "../../src/brokers/sqlite.js";
import { Celeriac } from "../../src/index.js";
import { encodeTask, toEnvelope } from "../../src/protocol/message.js";
import { hostileMessages, spawnHostileWorker, type HostileTarget } from "../support/hostile-suite.js";

function target(pool: "async" | "process"): HostileTarget {
  const dir = mkdtempSync(join(tmpdir(), "hostile-sqlite-"));
  const url = `sqlite://${join(dir, "broker.db")}`;
  const app = new Celeriac({ name: "hostile-results", broker: url, backend: url });
  let db: Database.Database | null = null;
  // The worker creates the schema when it connects: opened after it started.
  const conn = () => (db ??= new Database(join(dir, "broker.db")));
  return {
    envelopes: true,
    publishRaw: async (queue, m) =>
      void conn().prepare("INSERT INTO celeriac_messages (queue, priority, visible_at, envelope) VALUES (?, 0, 0, ?)").run(queue, m.envelope!),
    startWorker: (queue, env) => spawnHostileWorker(pool, queue, { ...env, CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url }),
    results: () => app.backend(),
    // A row is deleted when acked: none left means nothing can be delivered again.
    drained: async (queue) => conn().prepare("SELECT count(*) FROM celeriac_messages WHERE queue = ?").pluck().get(queue) === 0,
    close: async () => {
      db?.close();
      await app.close();
    },
  };
}

hostileMessages("sqlite, async pool", target("async"));
hostileMessages("sqlite, process pool", target("process"));

describe("sqlite broker: a malformed row", () => {
  it("is handed over saying why, and the good rows leased with it come too; acking them all leaves nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hostile-row-"));
    const broker = new SqliteBroker(`sqlite://${join(dir, "broker.db")}`);
    await broker.connect();
    const db = new Database(join(dir, "broker.db"));
    try {
      const queue = "hostile-rows";
      const insert = db.prepare("INSERT INTO celeriac_messages (queue, priority, visible_at, envelope) VALUES (?, 0, 0, ?)");
      const a = encodeTask({ task: "t.a" });
      const b = encodeTask({ task: "t.b" });
      insert.run(queue, toEnvelope(a));
      insert.run(queue, "{not json");
      insert.run(queue, 42);
      insert.run(queue, toEnvelope(b));
      const ds = await broker.fetch([queue], { max: 10, waitMs: 500, lease: true });
      assert.equal(ds.length, 4);
      assert.deepEqual(
        ds.map((d) => d.message.headers.id ?? null),
        [a.headers.id, null, null, b.headers.id],
      );
      assert.match(ds[1]!.message.unreadable ?? "", /envelope is not JSON/);
      assert.match(ds[2]!.message.unreadable ?? "", /no body/);
      await broker.ack(ds);
      assert.equal(db.prepare("SELECT count(*) FROM celeriac_messages").pluck().get(), 0);
    } finally {
      db.close();
      await broker.close();
    }
  });
});
