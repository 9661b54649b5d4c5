// Celeriac producer and worker over real RabbitMQ: results over rpc://,
// errors, countdown kept broker-side, priorities, topic routing, topology
// arguments, and rpc://'s refusal of chords.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import amqp from "amqplib";
import { ConfigurationError, Celeriac, RemoteTaskError, Worker, type TaskContext } from "../../src/index.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit, waitQueueTaken } from "../support/amqp.js";
import { waitUntil } from "../support/wait.js";

const skip = await requireRabbit();

describe("worker over AMQP (rpc:// results)", { skip: skip ?? false }, () => {
  const id = randomUUID().slice(0, 8);
  const queue = `t-amqp-${id}`;
  const topicQueue = `t-amqp-topic-${id}`;
  const topicExchange = `t-amqp-x-${id}`;
  const app = new Celeriac({
    name: "amqptest",
    broker: AMQP_URL,
    backend: "rpc://",
    taskDefaultQueue: queue,
    taskDefaultExchange: queue,
    taskDefaultRoutingKey: queue,
    taskQueueMaxPriority: 10,
    taskQueues: [
      { name: queue, exchange: queue, routingKey: queue },
      { name: topicQueue, exchange: topicExchange, exchangeType: "topic", routingKey: "reports.#" },
    ],
    taskRoutes: { "amqptest.report*": { queue: topicQueue, routingKey: "reports.daily" } },
  });
  const order: string[] = [];
  const add = app.task("amqptest.add", (x: number, y: number) => x + y);
  const echo = app.task({ name: "amqptest.echo", bind: true, kwargsAsObject: true }, function (this: TaskContext) {
    return { args: this.request.args, kwargs: this.request.kwargs };
  });
  const boom = app.task("amqptest.boom", () => {
    const e = new Error("nope");
    e.name = "ValueError";
    throw e;
  });
  const report = app.task({ name: "amqptest.report", bind: true }, function (this: TaskContext) {
    return this.request.deliveryInfo;
  });
  const mark = app.task("amqptest.mark", (tag: string) => {
    order.push(tag);
    return tag;
  });
  const worker = new Worker(app, { pool: "async", concurrency: 1, prefetchMultiplier: 1, queues: [queue, topicQueue], hostname: "amqptest@%h" });

  before(async () => {
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await app.close();
    await deleteAmqpEntities({ queues: [queue, topicQueue], exchanges: [queue, topicExchange] });
  });

  it("delay → get, args and kwargs, unicode and nested values", async () => {
    assert.equal(await add.delay(2, 3).get({ timeout: 10_000 }), 5);
    const value = { text: "héllo ✓ 你好", list: [1, 2.5, null, true], nested: { a: { b: [] } } };
    const got = await echo.applyAsync([1, "ü", value] as never, { kwargs: { k: "v", n: 3000000000 } }).get({ timeout: 10_000 });
    assert.deepEqual(got, { args: [1, "ü", value], kwargs: { k: "v", n: 3000000000 } });
  });

  it("an exception comes back with its type and message", async () => {
    await assert.rejects(boom.delay().get({ timeout: 10_000 }), (err: Error) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.name, "ValueError");
      assert.equal(err.message, "nope");
      return true;
    });
  });

  it("countdown: the message waits in RabbitMQ, not in the worker, and runs on time", async () => {
    // No earlier than this: the message's own ETA is computed a moment later.
    const eta = Date.now() + 1200;
    const r = add.applyAsync([1, 1], { countdown: 1.2 });
    await r.sent;
    // Held by the worker at any moment before its ETA is the bug, however slow this machine is.
    while (Date.now() < eta - 150) {
      assert.equal(worker.reservedCount + worker.activeCount, 0, "nothing held by the worker while it waits");
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(await r.get({ timeout: 30_000 }), 2);
    assert.ok(Date.now() >= eta - 50, `ran ${eta - Date.now()} ms before its countdown`);
  });

  it("routes to a named queue through a topic exchange", async () => {
    const info = (await report.delay().get({ timeout: 10_000 })) as { exchange: string; routing_key: string };
    assert.equal(info.exchange, topicExchange);
    assert.equal(info.routing_key, "reports.daily");
  });

  it("serves higher priorities first from a backlog", async () => {
    // Hold the only slot, let one message into the prefetch window, then queue a backlog.
    const blocker = app.task({ name: `amqptest.block-${id}` }, () => new Promise((r) => setTimeout(r, 800)));
    const b = blocker.delay();
    await waitUntil("the blocker to hold the only slot", () => worker.activeCount === 1, 10_000, 10);
    order.length = 0;
    const sent = [mark.applyAsync(["filler"], { priority: 0 })];
    await sent[0]!.sent;
    await waitQueueTaken(queue);
    for (const [tag, priority] of [
      ["low1", 1],
      ["low2", 1],
      ["high1", 9],
      ["mid", 5],
      ["high2", 9],
    ] as const) {
      const r = mark.applyAsync([tag], { priority });
      await r.sent;
      sent.push(r);
    }
    await b.get({ timeout: 10_000 });
    await Promise.all(sent.map((r) => r.get({ timeout: 10_000 })));
    assert.deepEqual(order, ["filler", "high1", "high2", "mid", "low1", "low2"]);
  });

  it("declares queues with Celery's arguments: durable, x-max-priority only when configured", async () => {
    // A passive-free check: redeclaring with Celery's exact arguments must succeed (else PRECONDITION_FAILED).
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false, arguments: { "x-max-priority": 10 } });
      const ch2 = await conn.createChannel();
      ch2.on("error", () => {});
      await assert.rejects(ch2.assertQueue(queue, { durable: true, arguments: {} }), /PRECONDITION_FAILED/);
    } finally {
      await conn.close();
    }
  });

  it("retry: the task comes back through the delay cascade and succeeds", async () => {
    const flaky = app.task({ name: `amqptest.flaky-${id}`, bind: true, maxRetries: 3 }, function (this: TaskContext) {
      if (this.request.retries < 2) this.retry({ countdown: 0.2, exc: new Error("not yet") });
      return this.request.retries;
    });
    assert.equal(await flaky.delay().get({ timeout: 10_000 }), 2);
  });

  it("bad input does not stop the worker: garbage and unknown tasks are dropped, the next task runs", async () => {
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      await new Promise<void>((res, rej) =>
        ch.publish("", queue, Buffer.from("{not json"), { contentType: "application/json", headers: { task: "amqptest.add", id: randomUUID() } }, (e) =>
          e ? rej(e) : res(),
        ),
      );
      await new Promise<void>((res, rej) => ch.publish("", queue, Buffer.from("[]"), { headers: {} }, (e) => (e ? rej(e) : res())));
    } finally {
      await conn.close();
    }
    await assert.rejects(app.sendTask("amqptest.nobody-knows-me", []).get({ timeout: 10_000 }), /nobody-knows-me/);
    assert.equal(await add.delay(20, 22).get({ timeout: 10_000 }), 42);
  });

  it("rpc:// refuses chords with a clear error", async () => {
    const backend = await app.backend();
    await assert.rejects(
      backend.chordJoin(randomUUID(), 0, 2, { task_id: "x", status: "SUCCESS", result: 1, traceback: null, children: [], date_done: null }),
      (err: Error) => {
        assert.ok(err instanceof ConfigurationError);
        assert.match(err.message, /does not support chords/);
        return true;
      },
    );
  });
});
