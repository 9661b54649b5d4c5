import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { SqliteBeatStore } from "../../src/beat/stores/sqlite.js";
import { beatStoreConformance } from "../support/beat-store-suite.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-beat-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
beatStoreConformance("sqlite", { make: async (namespace) => new SqliteBeatStore(`sqlite://${join(dir, "beat.db")}`, { namespace }) });
