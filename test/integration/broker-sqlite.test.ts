import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { SqliteBroker } from "../../src/brokers/sqlite.js";
import { boundQueueConformance, brokerConformance, fanoutConformance } from "../support/broker-suite.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-broker-"));
after(() => rmSync(dir, { recursive: true, force: true }));
brokerConformance("sqlite", { make: async (opts) => new SqliteBroker(`sqlite://${join(dir, "broker.db")}`, opts) });
fanoutConformance("sqlite", { make: async (opts) => new SqliteBroker(`sqlite://${join(dir, "broker.db")}`, opts) });
boundQueueConformance("sqlite", { make: async (opts) => new SqliteBroker(`sqlite://${join(dir, "broker.db")}`, opts) });
