import { MemoryBroker } from "../../src/brokers/memory.js";
import { boundQueueConformance, brokerConformance, fanoutConformance } from "../support/broker-suite.js";

// One URL per suite run: brokers made with the same URL share queues, like connections to one server.
const url = `memory://conformance-${process.pid}`;
brokerConformance("memory", { make: async (opts) => new MemoryBroker(url, opts) });
fanoutConformance("memory", { make: async (opts) => new MemoryBroker(url, opts) });
boundQueueConformance("memory", { make: async (opts) => new MemoryBroker(url, opts) });
