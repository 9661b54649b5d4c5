// kill -9 of a worker's whole process group, three times while it drains
// acksLate tasks, restarted each time: no task is lost (every result
// SUCCESS). A short visibility timeout brings the dead worker's messages back
// quickly. (RabbitMQ's case is in test/faults/amqp.test.ts, with
// its private node.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { redisAvailable, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";
import { killWorkerWhileDraining, type Target } from "./scenarios.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-fault-kill-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const redisUp = await redisAvailable(); // the private server needs redis-server, as the shared one does

const SIZE = { tasks: 300, taskMs: 20, concurrency: 8, kills: 3, timeoutMs: 90_000 };

async function drainThroughKills(target: Target) {
  const outcome = await killWorkerWhileDraining({ ...SIZE, target, runsFile: join(dir, `${target.queue}.runs`) });
  try {
    assert.equal(outcome.workers.length, SIZE.kills + 1, "a worker per kill, and the first");
    assert.equal(outcome.sent, SIZE.tasks);
    assert.equal(outcome.lost, 0, "every task's result is SUCCESS");
    assert.ok(outcome.recoverySeconds !== null);
  } finally {
    await outcome.worker.stop();
  }
}

describe("kill -9 of a worker mid-drain, three times (acksLate)", () => {
  it("sqlite: none lost", { timeout: 120_000 }, async () => {
    const db = `sqlite://${join(dir, "fault-kill.db")}`;
    await drainThroughKills({ broker: "sqlite", brokerUrl: db, backendUrl: db, queue: "fault-kill", visibilityTimeout: 2 });
  });

  it("redis: none lost", { timeout: 120_000, skip: !redisUp }, async () => {
    const redis = await startOwnRedis(await freePort());
    try {
      await drainThroughKills({ broker: "redis", brokerUrl: redis.url(0), backendUrl: redis.url(0), queue: "fault-kill", visibilityTimeout: 2 });
    } finally {
      await redis.stop();
    }
  });
});
