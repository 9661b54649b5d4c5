import { MemoryBeatStore } from "../../src/beat/stores/memory.js";
import { beatStoreConformance } from "../support/beat-store-suite.js";

beatStoreConformance("memory", { make: async (namespace) => new MemoryBeatStore("memory://", { namespace }) });
