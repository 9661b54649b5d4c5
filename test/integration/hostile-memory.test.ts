// The hostile-message suite on the memory broker, with an in-process Worker
// (async pool): messages handed to the broker's publish as they are, however malformed.
import { Writable } from "node:stream";
import { pino } from "pino";
import type { Broker } from "../../src/brokers/broker.js";
import { Worker, type Celeriac } from "../../src/index.js";
import { hostileMessages, type HostileTarget } from "../support/hostile-suite.js";

let app: Celeriac;
let broker: Broker;
let worker: Worker;
const lines: string[] = [];

const target: HostileTarget = {
  envelopes: false,
  publishRaw: async (queue, m) => broker.publish({ queue }, m.message!),
  async startWorker(queue, env) {
    Object.assign(process.env, env, { CELERIAC_BROKER_URL: "memory://hostile", CELERIAC_RESULT_BACKEND: "memory://hostile" });
    ({ app } = await import("../fixtures/hostile-app.js"));
    // The worker's log, kept as the readable printer would print it (msg as is).
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString("utf8").split("\n").filter(Boolean)) {
          const { level, msg } = JSON.parse(l) as { level: number; msg: string };
          lines.push(`[${level}] ${msg}`);
        }
        done();
      },
    });
    (app as { log: unknown }).log = pino({ level: "info" }, sink);
    broker = await app.broker();
    worker = new Worker(app, { pool: "async", concurrency: 4, queues: [queue], hostname: "hostile@test" });
    await worker.start();
    return {
      pid: process.pid,
      alive: () => true,
      output: () => lines.join("\n"),
      rss: () => process.memoryUsage.rss(),
      stop: async () => {
        await worker.stop();
        await app.close();
      },
    };
  },
  results: () => app.backend(),
  drained: async (queue) => (await broker.size(queue)) === 0 && worker.activeCount === 0 && worker.reservedCount === 0,
};

hostileMessages("memory, in-process worker", target);
