// Global rate limits on RabbitMQ alone (src/brokers/amqp/rate-bucket.ts):
// brokers in one test share a bucket as separate processes would (one
// connection each), the refiller's leadership passes on when its holder
// closes, and three real worker processes together keep to the rate.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import amqp from "amqplib";
import { AmqpBroker } from "../../src/brokers/amqp/index.js";
import type { Live } from "../../src/brokers/amqp/session.js";
import { Celeriac } from "../../src/index.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const skip = await requireRabbit();
const dir = mkdtempSync(join(tmpdir(), "celeriac-amqp-rate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The most timestamps that fall in any window of `ms` (sorted input). */
function busiestWindow(stamps: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < stamps.length; j++) {
    while (stamps[j]! - stamps[i]! >= ms) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

/** Whether a queue exists (checked on a connection of the test's own). */
async function queueExists(name: string): Promise<boolean> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    // An exclusive queue of another connection answers RESOURCE_LOCKED: it exists.
    return await ch.checkQueue(name).then(
      () => true,
      (err: { code?: number }) => err.code !== 404,
    );
  } finally {
    await conn.close().catch(() => {});
  }
}

/**
 * Calls takeToken in a loop as a worker would (waiting what it says) until `until`,
 * pushing the grant times into `granted` as they come, so a test can wait on them.
 */
async function takeUntil(broker: AmqpBroker, key: string, perSecond: number, until: () => boolean, granted: number[] = []): Promise<number[]> {
  while (!until()) {
    // The worker goes on asking when takeToken throws (a lost connection); so does this loop.
    const wait = await broker.takeToken(key, perSecond).catch(() => 100);
    if (wait === 0) granted.push(Date.now());
    else await sleep(wait);
  }
  return granted;
}

// Counts are bounded above by the rate (the feature) and waited for below (progress),
// never counted in a fixed window: a loaded machine only makes the tokens come later.
describe("global rate limits over AMQP", { skip: skip ?? false }, () => {
  it("two brokers share one bucket; when the refiller's broker closes, the other takes over", async () => {
    const key = `celeriac.rate.t-rate-${randomUUID().slice(0, 8)}`;
    const a = new AmqpBroker(AMQP_URL);
    const b = new AmqpBroker(AMQP_URL);
    try {
      await a.connect();
      await b.connect();
      // a alone first: it is the only one to claim the refiller.
      let aDone = false;
      const fromA: number[] = [];
      const aGrants = takeUntil(a, key, 10, () => aDone, fromA);
      await waitUntil("a to get tokens on its own", () => fromA.length >= 3);
      const t0 = Date.now();
      let bDone = false;
      const fromB: number[] = [];
      const bGrants = takeUntil(b, key, 10, () => bDone, fromB);
      // Shared for at least 2.5 s, and until b has had tokens from a's refiller.
      await sleep(2500);
      await waitUntil("b to get tokens while a refills", () => fromB.some((t) => t >= t0));
      aDone = true;
      await aGrants;
      const sharedEnd = Date.now();
      // a goes away (its connection, and with it the leader queue); b must go on getting tokens.
      await a.close();
      const tClose = Date.now();
      // The bucket holds one token: ten more can only come from a refiller b took over.
      await sleep(1000);
      await waitUntil("b to take the refilling over", () => fromB.filter((t) => t > tClose).length >= 10);
      bDone = true;
      await bGrants;
      const both = [...fromA, ...fromB].filter((t) => t >= t0 && t < sharedEnd).sort((x, y) => x - y);
      const seconds = (sharedEnd - t0) / 1000;
      assert.ok(both.length <= Math.ceil(10 * seconds) + 2, `${both.length} tokens in ${seconds} s at 10/s across two brokers`);
      assert.ok(busiestWindow(both, 1000) <= 12, `busiest second: ${busiestWindow(both, 1000)} tokens`);
      const afterClose = fromB.filter((t) => t > tClose);
      assert.ok(busiestWindow(afterClose, 1000) <= 12, `busiest second after the takeover: ${busiestWindow(afterClose, 1000)}`);
      // Nobody wants tokens any more: b gives the leadership up (after ~5 s) rather than refill forever.
      assert.ok(await queueExists(`${key}.refiller`), "b holds the leader queue");
      await waitUntil("b to release the leadership once idle", async () => !(await queueExists(`${key}.refiller`)), 30_000, 500);
    } finally {
      await a.close();
      await b.close();
      await deleteAmqpEntities({ queues: [key, `${key}.refiller`] });
    }
  });

  it("a lost connection: the broker reconnects, declares the bucket again and leads again", async () => {
    const key = `celeriac.rate.t-rate-${randomUUID().slice(0, 8)}`;
    const a = new AmqpBroker(AMQP_URL);
    try {
      await a.connect();
      const before: number[] = [];
      await takeUntil(a, key, 20, () => before.length >= 10, before);
      // Cut the TCP connection under the broker, as a network failure would (a reset: amqplib sees the error).
      const session = (a as unknown as { session: { live: Live } }).session;
      const socket = (session.live.conn.connection as unknown as { stream: { destroy(err: Error): void } }).stream;
      socket.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
      const cut = Date.now();
      // The bucket holds one token: twenty more after the cut come only from a refiller led again.
      const afterCut: number[] = [];
      await takeUntil(a, key, 20, () => afterCut.length >= 20 || Date.now() - cut > 30_000, afterCut);
      assert.ok(afterCut.length >= 20, `${afterCut.length} tokens in 30 s after the cut: leadership was not taken again`);
      assert.ok(busiestWindow(afterCut, 1000) <= 22, `busiest second after the cut: ${busiestWindow(afterCut, 1000)}`);
    } finally {
      await a.close();
      await deleteAmqpEntities({ queues: [key, `${key}.refiller`] });
    }
  });

  it("three worker processes together start at most 10 tasks a second", async () => {
    const id = randomUUID().slice(0, 8);
    const queue = `t-rate-${id}`;
    const task = `ratetest.stamp-${id}`;
    const log = join(dir, `${queue}.log`);
    const env = { RATE_AMQP_URL: AMQP_URL, RATE_QUEUE: queue, RATE_TASK: task, RATE_LOG: log };
    const client = new Celeriac({
      name: "client",
      broker: AMQP_URL,
      backend: "rpc://",
      taskDefaultQueue: queue,
      taskDefaultExchange: queue,
      taskDefaultRoutingKey: queue,
    });
    const workers: RunningProcess[] = [];
    try {
      for (let i = 0; i < 3; i++) workers.push(await startWorker("test/fixtures/amqp-rate-app.ts", ["-P", "async", "-c", "4", "-n", `rate${i}-${id}@%h`], env));
      const results = Array.from({ length: 30 }, (_, i) => client.sendTask<number>(task, [i]));
      const values = await Promise.all(results.map((r) => r.get({ timeout: 30_000 })));
      assert.deepEqual(
        values,
        Array.from({ length: 30 }, (_, i) => i),
      );
      const lines = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
      assert.equal(lines.length, 30, `every task ran once:\n${lines.join("\n")}\n${workers.map((w) => w.output().slice(-3000)).join("\n---\n")}`);
      const stamps = lines.map((l) => Number(l.split(" ")[0])).sort((x, y) => x - y);
      const pids = new Set(lines.map((l) => l.split(" ")[1]));
      assert.ok(pids.size >= 2, `tasks ran in ${pids.size} worker process(es)`);
      const busiest = busiestWindow(stamps, 1000);
      assert.ok(busiest <= 12, `busiest second across all workers: ${busiest} starts (limit 10/s)`);
      const span = stamps.at(-1)! - stamps[0]!;
      assert.ok(span >= 2500, `30 tasks at 10/s started within ${span} ms`);
    } finally {
      for (const w of workers) await w.stop();
      await client.close();
      await deleteAmqpEntities({ queues: [queue, `celeriac.rate.${task}`], exchanges: [queue] });
    }
  });
});
