// The hostile-message suite on Redis, against a real worker process.
import { Celeriac } from "../../src/index.js";
import { TODO_OUTCOME_SIDE, TODO_PROCESS_POOL, hostileMessages, spawnHostileWorker, type HostileTarget } from "../support/hostile-suite.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";

const DB = 14;
const OUTCOME_SIDE = TODO_OUTCOME_SIDE;
const PROCESS_POOL = TODO_PROCESS_POOL;
const available = await redisAvailable();

function target(pool: "async" | "process"): HostileTarget {
  const raw = rawClient(DB);
  const app = new Celeriac({ name: "hostile-results", broker: redisUrl(DB), backend: redisUrl(DB) });
  return {
    envelopes: true,
    publishRaw: async (queue, m) => void (await raw.lpush(queue, m.envelope!)),
    startWorker: (queue, env) => spawnHostileWorker(pool, queue, { ...env, CELERIAC_BROKER_URL: redisUrl(DB), CELERIAC_RESULT_BACKEND: redisUrl(DB) }),
    results: () => app.backend(),
    // Nothing queued and nothing in kombu's unacked hash: no message can be delivered again.
    drained: async (queue) => (await raw.llen(queue)) === 0 && (await raw.hlen("unacked")) === 0 && (await raw.zcard("unacked_index")) === 0,
    close: async () => {
      raw.disconnect();
      await app.close();
    },
  };
}

if (available) {
  hostileMessages("redis, async pool", target("async"), { todo: OUTCOME_SIDE });
  hostileMessages("redis, process pool", target("process"), { todo: { ...OUTCOME_SIDE, ...PROCESS_POOL } });
}
