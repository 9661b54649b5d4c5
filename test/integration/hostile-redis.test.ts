// The hostile-message suite on Redis, against a real worker process.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { RedisBroker } from "../../src/brokers/redis/index.js";
import { Celeriac } from "../../src/index.js";
import { encodeTask, toEnvelope } from "../../src/protocol/message.js";
import { hostileMessages, spawnHostileWorker, type HostileTarget } from "../support/hostile-suite.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";

const DB = 14;
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
  hostileMessages("redis, async pool", target("async"));
  hostileMessages("redis, process pool", target("process"));
}

describe("redis broker: the lease tag is the ack tag", { skip: !available }, () => {
  const raw = rawClient(DB);
  const broker = new RedisBroker(redisUrl(DB));
  after(async () => {
    await broker.close();
    raw.disconnect();
  });

  it("for an escaped tag, an unparseable envelope, one with no tag and a good one: acking each leaves nothing leased", async () => {
    const queue = `hostile-tags-${randomUUID().slice(0, 8)}`;
    const m = encodeTask({ task: "t.noop" });
    const info = { delivery_info: { exchange: "", routing_key: queue } };
    const envelopes = [
      toEnvelope(m, { ...info, delivery_tag: `a"b\\c\n${randomUUID()}` }),
      `{"body": "W10=", "headers": {"id" "x"}, "properties": {"delivery_tag": "${randomUUID()}"}}`,
      JSON.stringify({ body: "W10=", headers: {}, properties: {} }),
      toEnvelope(m, { ...info, delivery_tag: randomUUID() }),
    ];
    for (const e of envelopes) await raw.lpush(queue, e);
    await broker.connect();
    const ds = await broker.fetch([queue], { max: 10, waitMs: 1000, lease: true });
    assert.equal(ds.length, 4);
    assert.match(ds[1]!.message.unreadable ?? "", /envelope is not JSON/);
    broker.flushLeases(null);
    assert.equal(await raw.hlen("unacked"), 4, "each one leased");
    await broker.ack(ds);
    assert.equal(await raw.hlen("unacked"), 0, "the ack removed every lease");
    assert.equal(await raw.zcard("unacked_index"), 0);
  });
});
