import { MemoryBackend } from "../../src/backends/memory.js";
import { backendConformance } from "../support/backend-suite.js";

backendConformance("memory", { make: async (opts) => new MemoryBackend(`memory://results-${process.pid}`, opts) });
