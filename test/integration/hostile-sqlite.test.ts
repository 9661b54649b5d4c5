// The hostile-message suite on SQLite, against a real worker process: rows
// written straight into the messages table, a malformed one among good ones.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Celeriac } from "../../src/index.js";
import { TODO_OUTCOME_SIDE, TODO_PROCESS_POOL, hostileMessages, spawnHostileWorker, type HostileTarget } from "../support/hostile-suite.js";

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

hostileMessages("sqlite, async pool", target("async"), { todo: TODO_OUTCOME_SIDE });
hostileMessages("sqlite, process pool", target("process"), { todo: { ...TODO_OUTCOME_SIDE, ...TODO_PROCESS_POOL } });
