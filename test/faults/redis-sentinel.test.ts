// Redis Sentinel (sentinel://, kombu's master_name): one master, two replicas
// and three sentinels started here. The broker and backend conformance suites
// run through the sentinels, then the master is killed with -9 under a worker
// draining acksLate tasks while the producer sends: both must follow the
// promoted replica without a restart. The large run is `npm run chaos`.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { RedisBackend } from "../../src/backends/redis.js";
import { RedisBroker } from "../../src/brokers/redis/index.js";
import { backendConformance } from "../support/backend-suite.js";
import { brokerConformance, fanoutConformance } from "../support/broker-suite.js";
import { redisAvailable } from "../support/redis.js";
import { startSentinelSet } from "../support/sentinel.js";
import { assertMasterFailover, killSentinelMasterWhileDraining } from "./scenarios.js";

const redisUp = await redisAvailable(); // the set needs redis-server, as the shared Redis does
const dir = mkdtempSync(join(tmpdir(), "celeriac-fault-sentinel-"));
after(() => rmSync(dir, { recursive: true, force: true }));

if (redisUp) {
  const set = await startSentinelSet();
  brokerConformance("redis via sentinel", { make: async (opts) => new RedisBroker(set.url(1), { ...opts, ...set.transportOptions }) });
  fanoutConformance("redis via sentinel", { make: async (opts) => new RedisBroker(set.url(1), { ...opts, ...set.transportOptions }) });
  backendConformance("redis via sentinel", { make: async (opts) => new RedisBackend(set.url(2), { ...opts, master_name: set.transportOptions.masterName }) });

  describe("Redis Sentinel: a master name the sentinels do not know", () => {
    it("fails the connect with a BrokerConnectionError naming the cause, instead of waiting forever", { timeout: 20_000 }, async () => {
      const broker = new RedisBroker(set.url(0), { masterName: "no-such-master" });
      try {
        await assert.rejects(
          () => broker.connect(),
          (err: Error) => err.name === "BrokerConnectionError" && /No such master/.test(err.message),
        );
      } finally {
        await broker.close();
      }
    });
  });

  describe("Redis Sentinel failover mid-drain (acksLate)", () => {
    it("kill -9 of the master: the worker and the producer follow the promoted replica", { timeout: 120_000 }, async () => {
      const url = set.url(0);
      const tasks = 300;
      const lateSends = 100;
      const outcome = await killSentinelMasterWhileDraining(
        {
          target: { broker: "redis", brokerUrl: url, backendUrl: url, queue: "fault-sentinel", visibilityTimeout: 3, transportOptions: set.transportOptions },
          runsFile: join(dir, "sentinel.runs"),
          tasks,
          taskMs: 10,
          concurrency: 8,
          timeoutMs: 60_000,
        },
        set,
        lateSends,
      );
      await assertMasterFailover("sentinel failover", outcome, tasks + lateSends, /lost \(.*\); reconnecting/);
    });
  });
}
