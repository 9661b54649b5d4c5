// The Redis a worker uses, broken mid-run while it drains acksLate tasks: killed
// with -9 and started again (append-only file, fsync always), stalled with
// SIGSTOP for 10 s, and killed under `-c 1`. Each time the same worker must
// live on and every task complete. Each test runs its own redis-server.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { redisAvailable, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";
import { killRedisWhileDraining, stallRedisWhileDraining, type DrainOptions, type Outcome } from "./scenarios.js";

const redisUp = await redisAvailable(); // the private server needs redis-server, as the shared one does
const dir = mkdtempSync(join(tmpdir(), "celeriac-fault-redis-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A private Redis on `port` whose every write is in its append-only file before it answers. */
async function durableRedis(port: number) {
  const data = join(dir, `aof-${port}`);
  mkdirSync(data);
  return startOwnRedis(port, ["--appendonly", "yes", "--appendfsync", "always", "--dir", data]);
}

function drain(port: number, size: Omit<DrainOptions, "target" | "runsFile">): DrainOptions {
  const url = `redis://127.0.0.1:${port}/0`;
  return {
    ...size,
    target: { broker: "redis", brokerUrl: url, backendUrl: url, queue: "fault-outage", visibilityTimeout: 3 },
    runsFile: join(dir, `${port}.runs`),
  };
}

async function assertNoneLostWorkerUp(outcome: Outcome, tasks: number, logged?: RegExp) {
  try {
    assert.equal(outcome.sent, tasks);
    const lost = outcome.lostIds.slice(0, 3);
    const notes = () =>
      outcome.worker
        .output()
        .split("\n")
        .filter((l) => !/ received$| succeeded in /.test(l) || lost.some((id) => l.includes(id)))
        .join("\n")
        .slice(-4000);
    assert.equal(outcome.lost, 0, `every task's result is SUCCESS; lost ${lost.join(", ")}…; the worker's other lines and theirs:\n${notes()}`);
    assert.equal(outcome.workers.length, 1, "the one worker carried on");
    assert.ok(outcome.worker.proc.exitCode === null && outcome.worker.proc.signalCode === null, "the worker is up");
    if (logged) assert.match(outcome.worker.output(), logged, "the worker noticed the outage");
    // The async pool keeps a worker alive through a stray rejection, so survival alone would not show one.
    assert.doesNotMatch(outcome.worker.output(), /unhandled rejection|uncaught exception/, "every broker error was handled where it happened");
  } finally {
    assert.equal(await outcome.worker.stop(), 0, `warm shutdown; output:\n${outcome.worker.output().slice(-3000)}`);
  }
}

describe("Redis outages mid-drain (acksLate)", { skip: !redisUp }, () => {
  it("kill -9 of Redis (appendonly, fsync always), started 2 s later: none lost", { timeout: 90_000 }, async () => {
    const redis = await durableRedis(await freePort());
    try {
      const size = { tasks: 200, taskMs: 20, concurrency: 8, timeoutMs: 60_000 };
      await assertNoneLostWorkerUp(await killRedisWhileDraining(drain(redis.port, size), redis, 2000), size.tasks, /reconnecting|cannot fetch/);
    } finally {
      await redis.stop();
    }
  });

  it("SIGSTOP of Redis for 10 s, then SIGCONT: none lost, the worker lives on and the drain completes", { timeout: 90_000 }, async () => {
    const redis = await durableRedis(await freePort());
    try {
      const size = { tasks: 200, taskMs: 20, concurrency: 8, timeoutMs: 60_000 };
      await assertNoneLostWorkerUp(await stallRedisWhileDraining(drain(redis.port, size), redis, 10_000), size.tasks);
    } finally {
      await redis.stop();
    }
  });

  it(
    "-c 1: kill -9 of Redis under an idle worker after its one task, started 2 s later: the worker survives and runs the tasks sent meanwhile",
    {
      timeout: 90_000,
    },
    async () => {
      const redis = await durableRedis(await freePort());
      try {
        const size = { tasks: 1, taskMs: 20, concurrency: 1, timeoutMs: 60_000 };
        await assertNoneLostWorkerUp(await killRedisWhileDraining(drain(redis.port, size), redis, 2000, 5), size.tasks + 5);
      } finally {
        await redis.stop();
      }
    },
  );
});
