import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { SqliteBackend } from "../../src/backends/sqlite.js";
import { backendConformance } from "../support/backend-suite.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-backend-"));
after(() => rmSync(dir, { recursive: true, force: true }));
backendConformance("sqlite", { make: async (opts) => new SqliteBackend(`sqlite://${join(dir, "results.db")}`, opts) });
