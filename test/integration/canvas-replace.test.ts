// Task.replace (Celery's self.replace) in every shape Celery's canvas tests
// use: a task alone, first/middle/last in a chain, a group member, a chord
// header part and a chord body; replaced by a task, a chain, a group, a chord;
// with callbacks and errbacks; a second-order replacement; and the bad cases.
// Run on every broker + backend pair with an in-process worker.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Celeriac, ImproperlyConfigured, Worker, chain, chord, group } from "../../src/index.js";
import { defineReplaceTasks } from "../fixtures/replace-app.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const T = { timeout: 15_000 };
const dir = mkdtempSync(join(tmpdir(), "celeriac-replace-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const redisUp = await redisAvailable();
const amqpUp = (await requireRabbit()) === null;

const pairs: { name: string; broker: string; backend: string; skip?: boolean }[] = [
  { name: "memory", broker: `memory://replace-${randomUUID()}`, backend: `memory://replace-${randomUUID()}` },
  { name: "sqlite", broker: `sqlite://${join(dir, "replace.db")}`, backend: `sqlite://${join(dir, "replace.db")}` },
  { name: "redis", broker: redisUrl(7), backend: redisUrl(7), skip: !redisUp },
  { name: "amqp + redis results", broker: AMQP_URL, backend: redisUrl(7), skip: !amqpUp || !redisUp },
];

for (const pair of pairs) {
  describe(`Task.replace on ${pair.name}`, { skip: pair.skip }, () => {
    let app: Celeriac;
    let t: ReturnType<typeof defineReplaceTasks>;
    let worker: Worker;

    const queue = `replace-${randomUUID().slice(0, 8)}`;

    before(async () => {
      app = new Celeriac({ name: `replace-${pair.name}`, broker: pair.broker, backend: pair.backend, taskDefaultQueue: queue });
      t = defineReplaceTasks(app);
      worker = new Worker(app, { pool: "async", concurrency: 8 });
      await worker.start();
    });
    after(async () => {
      await worker.stop();
      await app.close();
      if (pair.broker === AMQP_URL) await deleteAmqpEntities({ queues: [queue] });
    });

    it("a task replaced by a task: its result arrives under the original id", async () => {
      const res = t.byTask.delay(5);
      assert.equal(await res.get(T), 15);
      assert.equal((await app.AsyncResult(res.id).get(T)) as number, 15);
    });

    it("replaced by a chain, a group (uplifted to a chord) and a chord", async () => {
      assert.equal(await t.byChain.delay(5).get(T), 7);
      assert.deepEqual(await t.byGroup.delay(5).get(T), [6, 7]);
      assert.equal(await t.byChord.delay(5).get(T), 13);
    });

    it("first, middle and last in a chain: the rest of the chain follows the replacement", async () => {
      assert.equal(await chain(t.byTask.s(5), t.add.s(1)).applyAsync().get(T), 16);
      assert.equal(await chain(t.add.s(1, 1), t.byTask.s(), t.add.s(100)).applyAsync().get(T), 112);
      assert.equal(await chain(t.add.s(1, 1), t.byTask.s()).applyAsync().get(T), 12);
      assert.equal(await chain(t.add.s(1, 1), t.byChain.s(), t.mul.s(10)).applyAsync().get(T), 40);
      assert.deepEqual(await chain(t.add.s(1, 1), t.byGroup.s(), t.tsum.s()).applyAsync().get(T), 7);
    });

    it("a group member and a chord header part keep their place", async () => {
      assert.deepEqual(await group(t.byTask.s(1), t.add.s(1, 1)).applyAsync().get(T), [11, 2]);
      assert.equal(
        await chord([t.byTask.s(1), t.add.s(1, 1)], t.tsum.s())
          .applyAsync()
          .get(T),
        13,
      );
      assert.equal(
        await chord([t.byChain.s(1), t.byGroup.s(1), t.add.s(1, 1)], t.identity.s())
          .applyAsync()
          .get(T)
          .then((v) => JSON.stringify(v)),
        JSON.stringify([3, [2, 3], 2]),
      );
    });

    it("a chord body replaced: the chord's result is the replacement's", async () => {
      assert.equal(
        await chord([t.add.s(1, 1), t.add.s(2, 2)], t.sumByReplace.s())
          .applyAsync()
          .get(T),
        6,
      );
    });

    it("callbacks and errbacks move to the replacement", async () => {
      const cbId = randomUUID();
      const res = t.byTask
        .s(1)
        .set({ link: t.add.s(100).set({ taskId: cbId }) })
        .delay();
      assert.equal(await res.get(T), 11);
      assert.equal(await app.AsyncResult(cbId).get(T), 111, "the callback got the replacement's result");
      const ebId = randomUUID();
      const failing = t.byFailing
        .s()
        .set({ linkError: t.onError.s().set({ taskId: ebId }) })
        .delay();
      await assert.rejects(failing.get(T), (err: Error) => err.name === "RangeError");
      const eb = await app.AsyncResult<{ failed: string }>(ebId).get(T);
      assert.equal(eb.failed, failing.id, "the errback names the id the caller holds");
    });

    it("a second-order replacement", async () => {
      assert.equal(await t.twice.delay(1).get(T), 11);
      assert.equal(await chain(t.twice.s(1), t.add.s(1)).applyAsync().get(T), 12);
    });

    it("replaced by an empty chain: the task fails with Celery's ImproperlyConfigured", async () => {
      await assert.rejects(
        t.byEmptyChain.delay().get(T),
        (err: Error) => err instanceof ImproperlyConfigured && /Cannot replace with an empty chain/.test(err.message),
      );
    });

    it("replaced by an empty group: the replacement (a chord of no header) returns []", async () => {
      assert.deepEqual(await t.byEmptyGroup.delay().get(T), []);
    });
  });
}
