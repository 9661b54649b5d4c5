// The canvas suite with RabbitMQ as the broker (results in Redis, DB 8: rpc://
// cannot carry chords), on a queue of its own that is deleted afterwards; and
// what works with rpc:// results (chains, groups) and what is refused (chords).
// RabbitMQ and Redis are required under CI=true.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac, ConfigurationError, Worker, chain, chord, group } from "../../src/index.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { canvasSuite } from "../support/canvas-suite.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const skip = (await requireRabbit()) !== null || !(await redisAvailable());
const queue = `canvas-amqp-${randomUUID().slice(0, 8)}`;
after(async () => {
  if (!skip) await deleteAmqpEntities({ queues: [queue] });
});
canvasSuite("amqp + redis results", () => ({ broker: AMQP_URL, backend: redisUrl(8), settings: { taskDefaultQueue: queue } }), { skip });

describe("canvas with rpc:// results", { skip }, () => {
  const rpcQueue = `canvas-rpc-${randomUUID().slice(0, 8)}`;
  let app: Celeriac;
  let worker: Worker;
  let t: ReturnType<typeof defineCanvasTasks>;
  before(async () => {
    app = new Celeriac({ name: "canvas-rpc", broker: AMQP_URL, backend: "rpc://", taskDefaultQueue: rpcQueue });
    t = defineCanvasTasks(app);
    worker = new Worker(app, { pool: "async", concurrency: 4 });
    await worker.start();
  });
  after(async () => {
    await worker?.stop();
    await app?.close();
    if (!skip) await deleteAmqpEntities({ queues: [rpcQueue] });
  });

  it("a chain's steps reply to the caller (every frozen step carries its reply_to)", async () => {
    const res = chain(t.add.s(1, 2), t.add.s(3), t.mul.s(10)).applyAsync();
    assert.equal(await res.get({ timeout: 15_000 }), 60);
  });

  it("a group", async () => {
    assert.deepEqual(await group(t.add.s(1, 1), t.add.s(2, 2)).applyAsync().get({ timeout: 15_000 }), [2, 4]);
  });

  it("a chord is refused with a clear error, as Celery does", async () => {
    const res = chord([t.add.s(1, 1)], t.tsum.s()).applyAsync();
    await assert.rejects(res.get({ timeout: 15_000 }), (err: Error) => err instanceof ConfigurationError && /does not support chords/.test(err.message));
  });
});
