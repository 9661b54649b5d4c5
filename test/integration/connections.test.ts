// Broker connections (issue 14): an outage kills no worker, the first
// connection waits for a broker that is not up yet, refused credentials fail
// fast with a typed error, each outage is told once per connection, and a
// stalled server is visible. Real workers against private redis-servers (and
// a private RabbitMQ node) that the tests kill, stall and start late.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { CLI, startNode, startWorker, type RunningProcess } from "../support/processes.js";
import { redisAvailable, redisUrl, startOwnRedis } from "../support/redis.js";
import { freePort } from "../support/ports.js";
import { requireRabbit } from "../support/amqp.js";
import { startOwnRabbit } from "../support/rabbit.js";
import { waitUntil } from "../support/wait.js";

const DB = 13;
const available = await redisAvailable();
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern.source, "g"))?.length ?? 0;
const alive = (p: RunningProcess) => p.proc.exitCode === null && p.proc.signalCode === null;
/** What must never show in a worker's log: a broker error that escaped every handler. */
const ESCAPED = /unhandled rejection|uncaught exception|PromiseRejectionHandledWarning|Unhandled error event/i;

function workerProcess(args: string[], env: Record<string, string>): RunningProcess {
  return startNode([CLI, "-A", "test/fixtures/app.ts", "worker", ...args], env);
}

describe("broker connections on redis", { skip: !available }, () => {
  const apps: Celeriac[] = [];
  after(async () => {
    await Promise.all(apps.map((a) => a.close()));
  });
  const producer = (url: string) => {
    const app = new Celeriac({ name: "producer", broker: url, backend: url });
    apps.push(app);
    return app;
  };

  it("a Redis killed and restarted kills no worker, at -c 1 or -c 2: each runs a new task after, and tells the outage once", async () => {
    const redis = await startOwnRedis(await freePort());
    const url = redis.url(DB);
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const queues = ["conn-c1", "conn-c2"].map((q) => `${q}-${randomUUID().slice(0, 6)}`);
    // The process pool: its worker process has no task context to blame a stray rejection on.
    const workers = await Promise.all(
      queues.map((q, i) => startWorker("test/fixtures/app.ts", ["-P", "process", "-c", String(i + 1), "-Q", q, "-n", `c${i + 1}@%h`], env)),
    );
    const app = producer(url);
    for (const q of queues) assert.equal(await app.sendTask("fixture.add", [1, 2], undefined, { queue: q }).get({ timeout: 15_000 }), 3);

    await redis.kill();
    // Down long enough for the commands queued meanwhile to run out of retries
    // (ioredis fails them after 20 reconnect attempts): the heartbeat is one.
    await waitUntil(
      () => `every worker's queued commands to fail, or a worker to die; outputs:\n${workers.map((w) => w.output().slice(-1500)).join("\n---\n")}`,
      () => workers.some((w) => !alive(w)) || workers.every((w) => /cannot send events/.test(w.output())),
      90_000,
      100,
    );
    for (const w of workers) assert.ok(alive(w), `worker died in the outage:\n${w.output().slice(-3000)}`);
    await redis.start();

    for (const q of queues) assert.equal(await app.sendTask("fixture.add", [20, 22], undefined, { queue: q }).get({ timeout: 30_000 }), 42);
    for (const w of workers) {
      const out = w.output();
      assert.ok(alive(w), `worker died after the outage:\n${out.slice(-3000)}`);
      assert.doesNotMatch(out, ESCAPED);
      // One line when lost and one when restored, per connection, naming it: not one per retry.
      for (const role of ["broker", "results"]) {
        assert.equal(count(out, new RegExp(`redis ${role} connection to redis://127\\.0\\.0\\.1:${redis.port}/${DB} lost`)), 1, `${role} lost, once:\n${out}`);
        assert.equal(
          count(out, new RegExp(`redis ${role} connection to redis://127\\.0\\.0\\.1:${redis.port}/${DB} restored`)),
          1,
          `${role} restored, once:\n${out}`,
        );
      }
      assert.equal(count(out, /cannot fetch from/), 1, "the fetch loop tells the outage once");
    }
  });

  it("a worker started before its Redis retries its first connection, saying why, and runs tasks once it is up", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}/${DB}`;
    const worker = workerProcess(["-P", "async", "-c", "2"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
    await worker.waitFor(new RegExp(`cannot connect to redis://127\\.0\\.0\\.1:${port}/${DB}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    assert.ok(alive(worker), "still waiting, not exited");
    await startOwnRedis(port);
    await worker.waitFor(/ ready: /, 30_000);
    const app = producer(url);
    assert.equal(await app.sendTask("fixture.add", [2, 3]).get({ timeout: 15_000 }), 5);
    const out = worker.output();
    assert.doesNotMatch(out, /Connection is closed/, "the real cause, not ioredis's connect() rejection");
    assert.doesNotMatch(out, ESCAPED);
  });

  it("a worker told to stop while it still waits for its Redis stops cleanly", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}/${DB}`;
    const worker = workerProcess(["-P", "process", "-c", "1"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
    await worker.waitFor(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}; trying again`));
    assert.equal(await worker.stop(), 0, worker.output());
    assert.doesNotMatch(worker.output(), /TypeError/);
    assert.doesNotMatch(worker.output(), ESCAPED);
  });

  it("a producer's first send waits for a Redis that is not up yet, and succeeds once it is", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}/${DB}`;
    const script = `
      import { Celeriac } from "./src/index.ts";
      const app = new Celeriac({ name: "late-producer", broker: ${JSON.stringify(url)}, backend: ${JSON.stringify(url)} });
      const r = app.sendTask("fixture.add", [40, 2]);
      await r.sent;
      console.log("sent " + r.id);
      console.log("result " + (await r.get({ timeout: 30000 })));
      await app.close();
    `;
    const sender = startNode(["--input-type=module", "-e", script]);
    await sender.waitFor(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    await startOwnRedis(port);
    await sender.waitFor(/sent /, 30_000);
    await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "1"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
    await sender.waitFor(/result 42/, 30_000);
    assert.equal(await sender.exited, 0);
  });

  for (const [what, auth] of [
    ["a wrong password (WRONGPASS)", ":wrong-pw-4711@"],
    ["no password (NOAUTH)", ""],
  ] as const) {
    it(`${what}: the worker stops at once with BrokerAuthenticationError, the password masked`, async () => {
      const port = await freePort();
      await startOwnRedis(port, ["--requirepass", "right-pw-0815"], "right-pw-0815");
      const url = `redis://${auth}127.0.0.1:${port}/${DB}`;
      const worker = workerProcess(["-P", "async", "-c", "1"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
      const code = await Promise.race([worker.exited, worker.waitFor(/ ready: /, 60_000).then(() => "ready")]);
      const out = worker.output();
      assert.notEqual(code, 0, `exits with an error:\n${out}`);
      assert.notEqual(code, "ready");
      assert.match(out, /BrokerAuthenticationError/);
      assert.match(out, what.includes("WRONGPASS") ? /WRONGPASS/ : /NOAUTH/);
      assert.doesNotMatch(out, /trying again/, "not retried");
      assert.doesNotMatch(out, /wrong-pw-4711|right-pw-0815/, "no password in the log");
    });
  }

  it("a stalled Redis (SIGSTOP) is told once when it stops answering and once when it answers again; work goes on", async () => {
    const redis = await startOwnRedis(await freePort());
    const url = redis.url(DB);
    const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "2"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url });
    const app = producer(url);
    assert.equal(await app.sendTask("fixture.add", [1, 1]).get({ timeout: 15_000 }), 2);
    redis.pause();
    try {
      await worker.waitFor(new RegExp(`redis broker connection to redis://127\\.0\\.0\\.1:${redis.port}/${DB} is not answering`), 30_000);
    } finally {
      redis.resume();
    }
    await worker.waitFor(/redis broker connection to \S+ answers again after/, 30_000);
    assert.equal(await app.sendTask("fixture.add", [2, 2]).get({ timeout: 15_000 }), 4);
    const out = worker.output();
    assert.equal(count(out, /redis broker connection to \S+ is not answering/), 1, out);
    assert.equal(count(out, /redis broker connection to \S+ answers again/), 1, out);
    assert.doesNotMatch(out, ESCAPED);
  });
});

const noRabbit = await requireRabbit();

describe("broker connections on amqp", { skip: noRabbit ?? false }, () => {
  it("a wrong password (ACCESS_REFUSED): the worker stops at once with BrokerAuthenticationError, the password masked", async () => {
    const url = "amqp://guest:wrong-pw-4711@127.0.0.1:5672//";
    const worker = workerProcess(["-P", "async", "-c", "1"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: redisUrl(DB) });
    const code = await Promise.race([worker.exited, worker.waitFor(/ ready: /, 60_000).then(() => "ready")]);
    const out = worker.output();
    assert.notEqual(code, 0, `exits with an error:\n${out}`);
    assert.notEqual(code, "ready");
    assert.match(out, /BrokerAuthenticationError/);
    assert.match(out, /ACCESS.REFUSED/);
    assert.doesNotMatch(out, /wrong-pw-4711/, "no password in the log");
  });

  it("a worker started before its RabbitMQ retries its first connection, saying why, and runs tasks once it is up", async () => {
    const port = await freePort();
    const url = `amqp://guest:guest@127.0.0.1:${port}//`;
    const worker = workerProcess(["-P", "async", "-c", "1"], { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: redisUrl(DB) });
    await worker.waitFor(new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    assert.ok(alive(worker), "still waiting, not exited");
    // A node name and ports of its own: another checkout may boot one at the same time.
    await startOwnRabbit({ nodeName: `rabbitconn-${randomUUID().slice(0, 8)}@localhost`, port, distPort: await freePort() });
    await worker.waitFor(/ ready: /, 90_000);
    const app = new Celeriac({ name: "producer", broker: url, backend: redisUrl(DB) });
    try {
      assert.equal(await app.sendTask("fixture.add", [3, 4]).get({ timeout: 15_000 }), 7);
    } finally {
      await app.close();
    }
    assert.doesNotMatch(worker.output(), ESCAPED);
  });
});
