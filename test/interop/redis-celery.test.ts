// Interop with a real Python Celery 5.2.6 worker and producer over Redis, both
// directions: a Python producer's tasks run on a Celeriac worker and Python
// reads the results; a Celeriac producer's tasks run on a Python worker and we
// read the results. Messages meet in the same lists, with the same envelopes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { RedisBroker, listKey } from "../../src/brokers/redis/index.js";
import { Celeriac, States } from "../../src/index.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { PY_DIR, PYTHON, pythonCeleryAvailable, runPython, startPythonWorker, type PythonWorker } from "../support/python.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";

const DB = 4;
const URL = redisUrl(DB);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
  error?: { type: string; message: string; module: string };
  elapsed?: number;
}

interface PyCall {
  name: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: Record<string, unknown>;
  wait?: number;
}

const NESTED = { text: "héllo ✓ 你好 🎉", list: [1, 2.5, null, true, "x"], deep: { a: { b: [[], {}] } } };

describe("interop with Python Celery 5.2.6 over Redis", { skip: !available }, () => {
  const run = randomUUID().slice(0, 8);
  const tsQueue = `interop-ts-${run}`;
  const pyQueue = `interop-py-${run}`;
  const pyEnv = { INTEROP_REDIS_URL: URL, INTEROP_PY_QUEUE: pyQueue };
  const py = (calls: PyCall[]) => runPython<PyOutcome[]>("produce.py", [JSON.stringify(calls)], pyEnv);
  // ETA messages go in the queue for a Python worker to hold, as Celery does.
  const app = new Celeriac({ name: "producer", broker: URL, backend: URL, brokerTransportOptions: { etaInQueue: true } });
  let tsWorker: RunningProcess;
  let pyWorker: PythonWorker;

  before(async () => {
    [tsWorker, pyWorker] = await Promise.all([
      startWorker("test/fixtures/interop-app.ts", ["-P", "async", "-c", "4", "-Q", tsQueue], {
        CELERIAC_BROKER_URL: URL,
        CELERIAC_RESULT_BACKEND: URL,
      }),
      startPythonWorker(pyEnv, ["-Q", pyQueue]),
    ]);
  });
  after(async () => {
    await Promise.all([tsWorker?.stop(), pyWorker?.stop()]);
    await app.close();
  });

  describe("Python producer → Celeriac worker", () => {
    let outcomes: PyOutcome[] = [];

    before(async () => {
      const opts = { queue: tsQueue };
      outcomes = await py([
        { name: "ts.echo", args: [1, "héllo ✓ 你好", NESTED], kwargs: { k: "v", n: NESTED }, options: opts, wait: 20 },
        { name: "ts.add", args: [2, 3], options: { ...opts, serializer: "msgpack" }, wait: 20 },
        { name: "ts.echo", args: ["ü", NESTED], kwargs: { k: "ß" }, options: { ...opts, serializer: "msgpack" }, wait: 20 },
        { name: "ts.fail", args: ["nope ✗"], options: opts, wait: 20 },
        { name: "ts.add", args: [1, 1], options: { ...opts, countdown: 2 }, wait: 20 },
        { name: "ts.add", args: [1, 2], options: { ...opts, countdown: 3, expires: 1 }, wait: 20 },
        { name: "ts.retryOnce", args: ["v"], options: opts, wait: 20 },
      ]);
    });

    it("args, kwargs, unicode and nested JSON arrive intact; Python reads the result", () => {
      assert.deepEqual(outcomes[0]!.result, [1, "héllo ✓ 你好", NESTED, { k: "v", n: NESTED }]);
      assert.equal(outcomes[0]!.state, "SUCCESS");
    });

    it("msgpack bodies are read", () => {
      assert.equal(outcomes[1]!.result, 5);
      assert.deepEqual(outcomes[2]!.result, ["ü", NESTED, { k: "ß" }]);
    });

    it("a task that throws: Python sees the exception type and message", () => {
      assert.equal(outcomes[3]!.state, "FAILURE");
      assert.deepEqual([outcomes[3]!.error?.type, outcomes[3]!.error?.message], ["TypeError", "nope ✗"]);
    });

    it("countdown: not run before it is due (kept broker-side meanwhile)", () => {
      assert.equal(outcomes[4]!.result, 2);
      assert.ok(outcomes[4]!.elapsed! >= 1.9, `ran after ${outcomes[4]!.elapsed} s`);
    });

    it("expires: a task due after it expired is revoked, not run", () => {
      assert.equal(outcomes[5]!.state, "REVOKED");
      assert.match(tsWorker.output(), new RegExp(`ts\\.add\\[${outcomes[5]!.id}\\] expired`));
    });

    it("a retried task runs again and succeeds", () => {
      assert.equal(outcomes[6]!.result, "v after 1 retry");
    });
  });

  describe("Celeriac producer → Python worker", () => {
    const opts = { queue: pyQueue };

    it("args, kwargs, unicode and nested JSON arrive intact; we read the result", async () => {
      const r = app.sendTask("py.echo", [1, "héllo ✓ 你好", NESTED], { k: "v", n: NESTED }, opts);
      assert.deepEqual(await r.get({ timeout: 20_000 }), { args: [1, "héllo ✓ 你好", NESTED], kwargs: { k: "v", n: NESTED } });
    });

    it("msgpack bodies are read", async () => {
      const r = app.sendTask("py.echo", ["ü", NESTED], { k: "ß" }, { ...opts, serializer: "msgpack" });
      assert.deepEqual(await r.get({ timeout: 20_000 }), { args: ["ü", NESTED], kwargs: { k: "ß" } });
    });

    it("a task that raises: we see the exception type and message", async () => {
      const r = app.sendTask("py.fail", ["boom ✗"], undefined, opts);
      await assert.rejects(r.get({ timeout: 20_000 }), (err: Error) => err.name === "ValueError" && err.message === "boom ✗");
      assert.equal(r.state, States.FAILURE);
    });

    it("countdown: the Python worker runs it when due", async () => {
      const sent = Date.now() / 1000;
      const r = app.sendTask<number>("py.now", [], undefined, { ...opts, countdown: 2 });
      const ranAt = await r.get({ timeout: 20_000 });
      assert.ok(ranAt - sent >= 1.9, `ran ${ranAt - sent} s after sending`);
    });

    it("expires: the Python worker revokes a task due after it expired", async () => {
      const r = app.sendTask("py.add", [1, 2], undefined, { ...opts, countdown: 3, expires: 1 });
      await assert.rejects(r.get({ timeout: 20_000 }));
      assert.equal(r.state, States.REVOKED);
    });

    it("a retried task runs again and succeeds", async () => {
      const r = app.sendTask("py.retry_once", ["v"], undefined, opts);
      assert.equal(await r.get({ timeout: 20_000 }), "v after 1 retry");
    });
  });

  describe("priorities (a lower number first on Redis)", () => {
    it("Python-sent priorities land in kombu's sub-lists and we serve them lowest first", async () => {
      const queue = `interop-prio-py-${run}`;
      const sent = await py([9, 5, 0, 3].map((priority) => ({ name: "ts.add", args: [0, priority], options: { queue, priority } })));
      const redis = rawClient(DB);
      try {
        assert.equal(await redis.llen(listKey(queue, 9)), 1);
        assert.equal(await redis.llen(listKey(queue, 3)), 2, "priorities 3 and 5 share step 3");
        assert.equal(await redis.llen(queue), 1);
      } finally {
        redis.disconnect();
      }
      const broker = new RedisBroker(URL);
      try {
        const order: unknown[] = [];
        for (let i = 0; i < 4; i++) {
          const [d] = await broker.fetch([queue], { max: 1, waitMs: 1000, lease: false });
          order.push(d?.message.headers.id);
        }
        // Step 3 holds priorities 5 then 3, first in first out.
        assert.deepEqual(order, [sent[2]!.id, sent[1]!.id, sent[3]!.id, sent[0]!.id]);
      } finally {
        await broker.close();
      }
    });

    it("Celeriac-sent priorities are served lowest first by kombu's consumer", async () => {
      const queue = `interop-prio-ts-${run}`;
      const rs = [9, 6, 0, 3].map((priority) => app.sendTask("py.add", [0, priority], undefined, { queue, priority }));
      await Promise.all(rs.map((r) => r.sent));
      const got = await runPython<{ id: string; priority: number }[]>("drain.py", [queue], pyEnv);
      assert.deepEqual(
        got.map((m) => m.id),
        [rs[2]!.id, rs[3]!.id, rs[1]!.id, rs[0]!.id],
      );
      assert.deepEqual(
        got.map((m) => m.priority),
        [0, 3, 6, 9],
      );
    });
  });

  it("remote control both ways: `celery inspect ping` hears our worker, app.control.ping() hears Python's", async () => {
    const ours = await app.control.ping({ timeout: 2000 });
    const names = ours.flatMap((r) => Object.keys(r));
    assert.ok(
      names.some((n) => n.startsWith("celeriac@")),
      `our worker answered: ${JSON.stringify(ours)}`,
    );
    assert.ok(
      names.some((n) => n.startsWith("celery@")),
      `the Python worker answered: ${JSON.stringify(ours)}`,
    );
    const { stdout } = await promisify(execFile)(PYTHON, ["-m", "celery", "-A", "pyapp", "inspect", "ping", "-t", "3", "--json"], {
      env: { ...process.env, ...pyEnv, PYTHONPATH: PY_DIR },
    });
    const replies = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.deepEqual(replies[Object.keys(replies).find((k) => k.startsWith("celeriac@"))!], { ok: "pong" });
  });

  it("a Python worker restores a Celeriac consumer's expired unacked message, and we restore Python's", async () => {
    const queue = `interop-restore-${run}`;
    const broker = new RedisBroker(URL, { visibilityTimeout: 1 });
    const redis = rawClient(DB);
    try {
      // Ours, leased and abandoned: the entry is kombu's [envelope, exchange, routing_key].
      const r = app.sendTask("py.add", [1, 2], undefined, { queue });
      await r.sent;
      const [d] = await broker.fetch([queue], { max: 1, waitMs: 1000, lease: true });
      assert.ok(d);
      const entry = JSON.parse((await redis.hget("unacked", d.tag))!) as [Record<string, unknown>, string, string];
      assert.deepEqual([entry[1], entry[2]], ["", queue]);
      assert.equal((entry[0].headers as Record<string, unknown>).id, r.id);
      // kombu's own restore (QoS.restore_by_tag) puts it back on our queue.
      await runPython("restore.py", ["restore", d.tag], pyEnv);
      assert.equal(await redis.hexists("unacked", d.tag), 0);
      const [again] = await broker.fetch([queue], { max: 1, waitMs: 1000, lease: false });
      assert.equal(again?.message.headers.id, r.id);
      assert.equal(again?.redelivered, true);

      // Python's, taken with ack emulation by a consumer that died: we put it back after the timeout.
      const p = app.sendTask("py.add", [3, 4], undefined, { queue });
      await p.sent;
      const taken = await runPython<{ id: string; tag: string }>("restore.py", ["take-and-die", queue], pyEnv);
      assert.equal(taken.id, p.id);
      assert.equal(await redis.hexists("unacked", taken.tag), 1, "left unacked by the dead consumer");
      const [back] = await broker.fetch([queue], { max: 1, waitMs: 4000, lease: true });
      assert.equal(back?.message.headers.id, p.id);
      assert.equal(back?.redelivered, true);
      await broker.ack([back!]);
    } finally {
      redis.disconnect();
      await broker.close();
    }
  });
});
