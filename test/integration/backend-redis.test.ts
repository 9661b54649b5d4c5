import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RedisBackend } from "../../src/backends/redis.js";
import { Celeriac } from "../../src/index.js";
import { backendConformance } from "../support/backend-suite.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";

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
      await assert.rejects(result.get({ timeout: 5000 }), TypeError);
      await new Promise((r) => setTimeout(r, 150));
      const [, subscribers] = (await raw.pubsub("NUMSUB", `celery-task-meta-${result.id}`)) as [string, number];
      assert.equal(subscribers, 0);
    } finally {
      raw.disconnect();
      await app.close();
    }
  });
});
