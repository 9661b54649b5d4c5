// Versioned SQLite schemas (util/sqlite-schema.ts): a file made before
// versioning opens unchanged, processes opening a new file at once do not
// race, and a file from a newer Celeriac is refused with SchemaTooNew.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { SqliteBroker } from "../../src/brokers/sqlite.js";
import { SqliteBackend } from "../../src/backends/sqlite.js";
import { SqliteBeatStore } from "../../src/beat/stores/sqlite.js";
import { SchemaTooNew } from "../../src/index.js";
import { encodeTask } from "../../src/protocol/message.js";
import { resultMeta } from "../../src/backends/result-meta.js";
import { ROOT, startNode } from "../support/processes.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-schema-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const COMPONENTS = ["backend", "beat", "broker"];

function versions(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare("SELECT component, version FROM celeriac_schema ORDER BY component").all() as { component: string; version: number }[];
    return Object.fromEntries(rows.map((r) => [r.component, r.version]));
  } finally {
    db.close();
  }
}

function sql(file: string, statement: string): void {
  const db = new Database(file);
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

describe("versioned SQLite schemas", () => {
  it("a file made before versioning (today's tables, no celeriac_schema) opens with its data", async () => {
    const file = join(dir, "old.db");
    const url = `sqlite://${file}`;
    const message = encodeTask({ task: "t.old", args: [1], kwargs: {} });
    const meta = resultMeta({ taskId: "old-task", status: "SUCCESS", result: 42 });
    const broker = new SqliteBroker(url);
    const backend = new SqliteBackend(url);
    const beat = new SqliteBeatStore(url, { namespace: "old" });
    await Promise.all([broker.connect(), backend.connect(), beat.connect()]);
    await broker.publish({ queue: "old" }, message);
    await backend.store(meta);
    const token = await beat.acquireLease("holder", 60_000, Date.now());
    await Promise.all([broker.close(), backend.close(), beat.close()]);
    // What the pre-versioning code left: the same tables (step 1 is that schema verbatim), and no record of a version.
    sql(file, "DROP TABLE celeriac_schema");

    const broker2 = new SqliteBroker(url);
    const backend2 = new SqliteBackend(url);
    const beat2 = new SqliteBeatStore(url, { namespace: "old" });
    await Promise.all([broker2.connect(), backend2.connect(), beat2.connect()]);
    try {
      const [d] = await broker2.fetch(["old"], { max: 1, waitMs: 1000, lease: false });
      assert.equal(d?.message.headers.id, message.headers.id);
      assert.equal((await backend2.get("old-task"))?.result, 42);
      assert.equal((await beat2.lease(Date.now()))?.token, token);
    } finally {
      await Promise.all([broker2.close(), backend2.close(), beat2.close()]);
    }
    assert.deepEqual(Object.keys(versions(file)), COMPONENTS);
  });

  it("two processes opening the same new files at once both succeed and record each version once", async () => {
    const go = join(dir, "go");
    const files = Array.from({ length: 20 }, (_, i) => join(dir, `race-${i}.db`));
    const fixture = join(ROOT, "test/fixtures/sqlite-opener.ts");
    const procs = [startNode([fixture, go, ...files]), startNode([fixture, go, ...files])];
    await Promise.all(procs.map((p) => p.waitFor(/ready/)));
    writeFileSync(go, "");
    for (const p of procs) assert.equal(await p.exited, 0, p.output());
    for (const p of procs) assert.match(p.output(), /opened/);
    const expected = versions(files[0]!);
    assert.deepEqual(Object.keys(expected), COMPONENTS);
    for (const file of files) assert.deepEqual(versions(file), expected);
  });

  it("a file whose schema is newer than this code knows is refused with SchemaTooNew", async () => {
    const file = join(dir, "new.db");
    const url = `sqlite://${file}`;
    const backend = new SqliteBackend(url);
    await backend.connect();
    await backend.close();
    const known = versions(file).backend!;
    sql(file, `UPDATE celeriac_schema SET version = ${known + 5} WHERE component = 'backend'`);

    const refused = new SqliteBackend(url);
    await assert.rejects(refused.connect(), (err: unknown) => {
      assert.ok(err instanceof SchemaTooNew);
      assert.equal(err.path, file);
      assert.equal(err.component, "backend");
      assert.equal(err.found, known + 5);
      assert.equal(err.known, known);
      assert.ok(err.message.includes(file) && err.message.includes("backend") && err.message.includes(String(known + 5)) && err.message.includes(`(${known})`));
      return true;
    });
    // The other components of the file are not affected.
    const broker = new SqliteBroker(url);
    await broker.connect();
    await broker.close();
  });
});
