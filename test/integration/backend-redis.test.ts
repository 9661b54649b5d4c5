import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { RedisBackend } from "../../src/backends/redis.js";
import { Celeriac, EncodeError } from "../../src/index.js";
import { backendConformance } from "../support/backend-suite.js";
import { rawClient, redisAvailable, redisUrl, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";
import { waitUntil } from "../support/wait.js";

// Database 2: task and group ids are random uuids, so runs never collide.
if (await redisAvailable()) {
  backendConformance("redis", { make: async (opts) => new RedisBackend(redisUrl(2), opts) });
}

describe("redis result backend: waiting", { skip: !(await redisAvailable()) }, () => {
  it("a get() whose send fails rejects with the send's error and leaves no subscription behind", async () => {
    const app = new Celeriac({ name: "wait-fail", broker: redisUrl(2), backend: redisUrl(2) });
    const raw = rawClient(2);
    try {
      await app.backend().then((b) => b.connect());
      const result = app.sendTask("never.sent", [10n]);
      await assert.rejects(result.get({ timeout: 5000 }), EncodeError);
      const subscribers = async () => ((await raw.pubsub("NUMSUB", `celery-task-meta-${result.id}`)) as [string, number])[1];
      await waitUntil("the failed get() to drop its subscription", async () => (await subscribers()) === 0, 5000);
    } finally {
      raw.disconnect();
      await app.close();
    }
  });
});

describe("redis result backend: this process's own tasks", { skip: !(await redisAvailable()) }, () => {
  const prefix = randomUUID().slice(0, 14);
  const own = () => prefix + randomUUID().slice(14);
  const meta = (id: string, result: unknown) => ({ task_id: id, status: "SUCCESS", result, traceback: null, children: [], date_done: null });
  const numpat = async (raw: ReturnType<typeof rawClient>) => Number(await raw.pubsub("NUMPAT"));

  it("one pattern subscription serves every get(), a late get() reads the key, and the pattern goes once idle", async () => {
    // A server of its own: PUBSUB NUMPAT counts the patterns of every client of
    // the server, and test files running alongside subscribe theirs.
    const server = await startOwnRedis(await freePort());
    const waiting = new RedisBackend(server.url(2), { taskIdPrefix: prefix });
    const storing = new RedisBackend(server.url(2));
    const raw = new Redis({ port: server.port, db: 2 });
    try {
      const before = await numpat(raw);
      const ids = [own(), own(), own()];
      const waits = ids.map((id) => waiting.waitFor(id, { timeoutMs: 5000, sending: Promise.resolve() }));
      await waitUntil("the pattern subscription", async () => (await numpat(raw)) > before, 5000);
      assert.equal(await numpat(raw), before + 1, "one pattern for all three");
      const [, perTask] = (await raw.pubsub("NUMSUB", `celery-task-meta-${ids[0]}`)) as [string, number];
      assert.equal(perTask, 0, "no SUBSCRIBE per task");
      for (const id of ids) await storing.store(meta(id, id));
      assert.deepEqual(
        (await Promise.all(waits)).map((m) => m.result),
        ids,
      );

      // Published while nobody waited: the pattern heard it and let it go; the key has it.
      const late = own();
      await storing.store(meta(late, "late"));
      assert.equal((await waiting.waitFor(late, { timeoutMs: 5000 })).result, "late");

      await waitUntil("the pattern to be dropped a second after the last wait", async () => (await numpat(raw)) === before, 5000);
      // And made again for the next wait.
      const again = own();
      const wait = waiting.waitFor(again, { timeoutMs: 5000, sending: Promise.resolve() });
      setTimeout(() => void storing.store(meta(again, "again")), 100);
      assert.equal((await wait).result, "again");
    } finally {
      raw.disconnect();
      await waiting.close();
      await storing.close();
    }
  });
});
