// Sending against brokers that fail: publish retry and timeout (Celery's
// task_publish_retry_policy), PublishError, and no silent loss of a send that
// nobody awaited. Own redis-servers (stalled with SIGSTOP); a port with
// nothing listening; RabbitMQ reached through a proxy that the test closes.
import assert from "node:assert/strict";
import { createServer, connect as tcpConnect, type AddressInfo, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { Celeriac, PublishError } from "../../src/index.js";
import { AMQP_URL, deleteAmqpEntities, rabbitAnswers } from "../support/amqp.js";
import { startNode } from "../support/processes.js";
import { startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";
import { waitUntil } from "../support/wait.js";

const DEAD_PORT = await freePort();
const DEAD = `redis://127.0.0.1:${DEAD_PORT}/0`;

/** Everything this process writes to stderr from now on (the app's log lines go there). */
function captureStderr(): { text(): string; stop(): void } {
  let text = "";
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  return { text: () => text, stop: () => void (process.stderr.write = original) };
}

const apps: Celeriac[] = [];
function makeApp(broker: string, extra: Record<string, unknown> = {}): Celeriac {
  const app = new Celeriac({
    broker,
    backend: "memory://",
    taskPublishTimeout: 0.3,
    taskPublishRetryPolicy: { maxRetries: 3, intervalStart: 0, intervalStep: 0.05, intervalMax: 0.05 },
    ...extra,
  });
  apps.push(app);
  return app;
}
after(async () => {
  for (const app of apps) await app.close({ timeout: 1 }).catch(() => {});
});

describe("sending to a stalled Redis", () => {
  it("rejects sent with a PublishError after the retries, and sends again once the broker is back", { timeout: 30_000 }, async () => {
    const own = await startOwnRedis(await freePort());
    const app = makeApp(own.url(0));
    await app.sendTask("stall.t", [1]).sent;
    const raw = new Redis(own.port);
    const pid = Number((await raw.info("server")).match(/process_id:(\d+)/)![1]);
    raw.disconnect();
    process.kill(pid, "SIGSTOP");
    try {
      const r = app.sendTask("stall.t", [2]);
      const err = await r.sent.then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof PublishError, `expected a PublishError, got ${String(err)}`);
      assert.equal(err.attempts, 4, "the first attempt and the policy's 3 retries");
      assert.match(err.message, /stall\.t/);
      assert.ok(err.message.includes(r.id), "the message names the task id");
      assert.deepEqual(err.tasks, [{ task: "stall.t", taskId: r.id }]);
      assert.ok(err.cause instanceof Error);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await app.sendTask("stall.t", [3]).sent;
  });

  it("a send succeeds when the broker comes back within the retry window, and is written once", { timeout: 30_000 }, async () => {
    const own = await startOwnRedis(await freePort());
    const app = makeApp(own.url(0), { taskPublishRetryPolicy: { maxRetries: 100, intervalStep: 0.05, intervalMax: 0.05 } });
    const raw = new Redis(own.port);
    await app.sendTask("back.t", [], {}, { queue: "back" }).sent;
    await raw.del("back");
    const pid = Number((await raw.info("server")).match(/process_id:(\d+)/)![1]);
    const log = captureStderr();
    process.kill(pid, "SIGSTOP");
    let sent: Promise<unknown>;
    try {
      sent = app.sendTask("back.t", [], {}, { queue: "back" }).sent.then(
        () => "sent",
        (e: unknown) => e,
      );
      await waitUntil("a retry to be logged", () => /publishing task back\.t\[.*\] failed \(attempt 2/.test(log.text()), 20_000);
    } finally {
      process.kill(pid, "SIGCONT");
      log.stop();
    }
    assert.equal(await sent, "sent");
    assert.equal(await raw.llen("back"), 1, "a stalled attempt is waited on again, not sent twice");
    raw.disconnect();
  });
});

describe("sending to a broker that is not there", () => {
  it("retries by the policy, and with retry: false fails at the first error", { timeout: 30_000 }, async () => {
    const app = makeApp(DEAD);
    const retried = await app.sendTask("dead.t").sent.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(retried instanceof PublishError);
    assert.equal(retried.attempts, 4);
    const once = await app.sendTask("dead.t", [], {}, { retry: false }).sent.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(once instanceof PublishError);
    assert.equal(once.attempts, 1);
    const app2 = makeApp(DEAD, { taskPublishRetry: false });
    const off = await app2.sendTask("dead.t").sent.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(off instanceof PublishError);
    assert.equal(off.attempts, 1, "taskPublishRetry: false");
    const app3 = makeApp(DEAD).configFromObject({ task_publish_retry_policy: { max_retries: 1, interval_step: 0 } });
    const snake = await app3.sendTask("dead.t").sent.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(snake instanceof PublishError);
    assert.equal(snake.attempts, 2, "Celery's snake_case policy keys are read");
  });

  it("a password in the broker URL is masked in the error", { timeout: 30_000 }, async () => {
    const app = makeApp(`redis://:s3cret-pw@127.0.0.1:${DEAD_PORT}/0`, { taskPublishRetry: false });
    const err = await app.sendTask("dead.t").sent.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof PublishError);
    assert.doesNotMatch(err.message, /s3cret-pw/);
  });

  it("an unawaited send that fails is logged at ERROR with its name and id, and signalled", { timeout: 30_000 }, async () => {
    const app = makeApp(DEAD);
    const signalled: { task: string; taskId: string; exception: Error }[] = [];
    app.on("sendFailed", (info) => signalled.push(info));
    const log = captureStderr();
    let id: string;
    try {
      id = app.sendTask("unawaited.add", [2, 3]).id; // sent is never looked at
      await waitUntil("the sendFailed signal", () => signalled.length > 0, 20_000);
      await waitUntil("the ERROR line", () => log.text().includes("ERROR"), 5_000);
    } finally {
      log.stop();
    }
    assert.equal(signalled[0]!.task, "unawaited.add");
    assert.equal(signalled[0]!.taskId, id);
    assert.ok(signalled[0]!.exception instanceof PublishError);
    const line = log
      .text()
      .split("\n")
      .find((l) => l.includes(id) && /ERROR/.test(l));
    assert.ok(line, `no ERROR line names ${id}:\n${log.text()}`);
    assert.match(line, /unawaited\.add/);
    await assert.rejects(app.close(), (e: unknown) => e instanceof PublishError && e.tasks.some((t) => t.taskId === id));
  });

  it("a producer that sends and closes the app against a dead broker exits reporting the failure", { timeout: 60_000 }, async () => {
    const p = startNode(["test/fixtures/send-producer.ts"], { SEND_BROKER: DEAD });
    const code = await p.exited;
    const out = p.output();
    const id = out.match(/queued (\S+)/)?.[1];
    assert.ok(id, out);
    assert.notEqual(code, 0, out);
    assert.doesNotMatch(out, /closed cleanly/);
    assert.match(out, new RegExp(`ERROR.*producer\\.add\\[${id}\\]`));
    assert.match(out, new RegExp(`sendFailed signal: producer\\.add ${id}`));
    assert.match(out, /PublishError/);
  });
});

describe("sending over AMQP when the connection is closed", () => {
  it("rejects sent with a PublishError", { timeout: 60_000 }, async () => {
    if (!(await rabbitAnswers(AMQP_URL, 2000))) {
      if (process.env.CI === "true") throw new Error(`RabbitMQ is required at ${new URL(AMQP_URL).host}`);
      return;
    }
    const rabbit = new URL(AMQP_URL);
    // A proxy to the shared RabbitMQ that the test shuts, so only this test's connection is cut.
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = tcpConnect(Number(rabbit.port || 5672), rabbit.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    // The test's vhost and credentials, through the proxy.
    const viaProxy = new URL(AMQP_URL);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String((proxy.address() as AddressInfo).port);
    const app = makeApp(viaProxy.toString(), { taskPublishTimeout: 1 });
    await app.sendTask("amqp.t", [], {}, { queue: "celeriac-sending-test" }).sent;
    const closed = new Promise<void>((r) => proxy.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
    const r = app.sendTask("amqp.t", [], {}, { queue: "celeriac-sending-test" });
    const err = await r.sent.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof PublishError, `expected a PublishError, got ${String(err)}`);
    assert.ok(err.message.includes(r.id));
    await deleteAmqpEntities({ queues: ["celeriac-sending-test"] });
  });
});
