// Interop with a real Python Celery 5.2 over real RabbitMQ, both directions:
// args/kwargs, unicode and nested values, an exception, countdown, priorities,
// routing to a named queue through a topic exchange; results over rpc:// and
// over the Redis result backend (DB 6).
// Both sides declare the same queues: a mismatch in queue arguments would
// fail with PRECONDITION_FAILED.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Celeriac, EventReceiver, RemoteTaskError, type CeleryEvent } from "../../src/index.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { waitUntil } from "../support/wait.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { PYTHON, requirePythonCelery, startPython, type PythonProcess } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const PY_DIR = fileURLToPath(new URL("./py-amqp/", import.meta.url));
const skip = (await requireRabbit()) ?? requirePythonCelery();
const REDIS_RESULTS = redisUrl(6);
const skipRedis = skip ?? ((await redisAvailable()) ? null : "Redis is not reachable");
const NESTED = { text: "héllo ✓ 你好", list: [1, 2.5, null, true], nested: { a: { b: [] } } };

/** Queue and exchange names of one direction, unique to this run. */
function names(side: string) {
  const id = randomUUID().slice(0, 8);
  return {
    INTEROP_AMQP_URL: AMQP_URL,
    INTEROP_QUEUE: `interop-${side}-${id}`,
    INTEROP_TOPIC_QUEUE: `interop-${side}-reports-${id}`,
    INTEROP_TOPIC_EXCHANGE: `interop-${side}-x-${id}`,
  };
}

function cleanup(n: ReturnType<typeof names>) {
  return deleteAmqpEntities({ queues: [n.INTEROP_QUEUE, n.INTEROP_TOPIC_QUEUE], exchanges: [n.INTEROP_QUEUE, n.INTEROP_TOPIC_EXCHANGE] });
}

/** An app routing to the run's queues as the Python side's config does (a topic queue, priorities up to 10). */
function interopApp(name: string, backend: string, n: ReturnType<typeof names>): Celeriac {
  return new Celeriac({
    name,
    broker: AMQP_URL,
    backend,
    taskDefaultQueue: n.INTEROP_QUEUE,
    taskDefaultExchange: n.INTEROP_QUEUE,
    taskDefaultRoutingKey: n.INTEROP_QUEUE,
    taskQueueMaxPriority: 10,
    taskQueues: [
      { name: n.INTEROP_QUEUE, exchange: n.INTEROP_QUEUE, routingKey: n.INTEROP_QUEUE },
      { name: n.INTEROP_TOPIC_QUEUE, exchange: n.INTEROP_TOPIC_EXCHANGE, exchangeType: "topic", routingKey: "reports.#" },
    ],
  });
}

/** A Python Celery worker (solo pool, named py-<queue>@host) on `queues`, with the test's names in its env. */
function startPythonWorker(n: ReturnType<typeof names>, queues: string[], extra: string[]): PythonProcess {
  const args = ["-m", "celery", "-A", "interop_tasks", "worker", "-P", "solo", "-l", "info", "-Q", queues.join(","), "-n", `py-${n.INTEROP_QUEUE}@%h`];
  return startPython([...args, "--without-gossip", "--without-mingle", ...extra], { cwd: PY_DIR, env: n });
}

function interop(backend: string, skipIt: string | null): void {
  describe(`Celeriac producer → Python Celery worker (AMQP, ${backend} results)`, { skip: skipIt ?? false }, () => {
    const n = { ...names("py"), INTEROP_BACKEND: backend };
    let worker: PythonProcess;
    const app = interopApp("producer", backend, n);

    before(async () => {
      worker = startPythonWorker(n, [n.INTEROP_QUEUE, n.INTEROP_TOPIC_QUEUE], ["-c", "1", "--without-heartbeat"]);
      await worker.waitFor(/ready\./, 40_000);
    });
    after(async () => {
      await worker?.stop();
      await app.close();
      await cleanup(n);
    });

    it("args and kwargs, unicode and nested values", async () => {
      const got = await app.sendTask("interop.echo", [1, "ü", NESTED], { k: "v", deep: NESTED }).get({ timeout: 60_000 });
      assert.deepEqual(got, { args: [1, "ü", NESTED], kwargs: { k: "v", deep: NESTED } });
      assert.equal(await app.sendTask("interop.add", [2, 3]).get({ timeout: 60_000 }), 5);
    });

    it("a Python exception comes back with its type and message", async () => {
      await assert.rejects(app.sendTask("interop.boom", ["nope"]).get({ timeout: 60_000 }), (err: Error) => {
        assert.ok(err instanceof RemoteTaskError);
        assert.equal(err.name, "ValueError");
        assert.equal(err.excModule, "builtins");
        assert.equal(err.message, "nope");
        return true;
      });
    });

    it("countdown: delivered through RabbitMQ's delay cascade, run by Python when due", async () => {
      const t0 = Date.now();
      assert.equal(await app.sendTask("interop.add", [1, 1], {}, { countdown: 1 }).get({ timeout: 60_000 }), 2);
      const took = Date.now() - t0;
      assert.ok(took >= 950, `ran ${took} ms after sending, not before its countdown`);
    });

    it("routes to a named queue through a topic exchange", async () => {
      const info = await app.sendTask("interop.where", [], {}, { queue: n.INTEROP_TOPIC_QUEUE, routingKey: "reports.daily" }).get({ timeout: 60_000 });
      assert.deepEqual(info, { exchange: n.INTEROP_TOPIC_EXCHANGE, routing_key: "reports.daily" });
    });

    it("priorities: the Python worker serves the higher ones first", async () => {
      const blocker = app.sendTask("interop.block", [0.8]);
      await blocker.sent;
      // Guessed waits, kept: the queue empties before the solo worker has taken
      // the message in (waitQueueTaken made this fail), and its log says
      // nothing until the blocker is done.
      await new Promise((r) => setTimeout(r, 300));
      const marks = [app.sendTask<[number, string]>("interop.mark", ["filler"], {}, { priority: 0 })];
      await marks[0]!.sent;
      await new Promise((r) => setTimeout(r, 100));
      for (const [tag, priority] of [
        ["low1", 1],
        ["low2", 1],
        ["high1", 9],
        ["mid", 5],
        ["high2", 9],
      ] as const) {
        const r = app.sendTask<[number, string]>("interop.mark", [tag], {}, { priority });
        await r.sent;
        marks.push(r);
      }
      let ran: [number, string][];
      try {
        // Generous: Celery 5.2's py-amqp consumer was seen taking ~10 s between deliveries here.
        await blocker.get({ timeout: 60_000 });
        ran = (await Promise.all(marks.map((m) => m.get({ timeout: 60_000 })))).sort((a, b) => a[0] - b[0]);
      } catch (err) {
        throw new Error(`${(err as Error).message}; Python worker output:\n${worker.output().slice(-4000)}`, { cause: err });
      }
      // The filler only takes up the prefetch window (where it runs depends on the worker's prefetch timing).
      assert.deepEqual(
        ran.map(([, tag]) => tag).filter((t) => t !== "filler"),
        ["high1", "high2", "mid", "low1", "low2"],
      );
    });
  });

  describe(`Python Celery producer → Celeriac worker (AMQP, ${backend} results)`, { skip: skipIt ?? false }, () => {
    const n = { ...names("js"), INTEROP_BACKEND: backend };
    let worker: RunningProcess;
    let out: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

    before(async () => {
      worker = await startWorker(
        "test/interop/amqp-app.ts",
        ["-P", "async", "-c", "1", "--prefetch-multiplier", "1", "-l", "info", "-Q", `${n.INTEROP_QUEUE},${n.INTEROP_TOPIC_QUEUE}`],
        n,
      );
      const producer = startPython(["produce.py"], { cwd: PY_DIR, env: n });
      const code = await producer.exited;
      const text = producer.output();
      assert.equal(code, 0, `produce.py failed:\n${text.slice(-3000)}\nworker:\n${worker.output().slice(-3000)}`);
      out = JSON.parse(text.trim().split("\n").pop()!);
    });
    after(async () => {
      await worker?.stop();
      await cleanup(n);
    });

    it("args and kwargs, unicode and nested values", () => {
      assert.deepEqual(out.echo, { ok: { args: [1, "ü", NESTED], kwargs: { k: "v" } } });
      // Our convention: non-empty kwargs reach a Celeriac task as one final object argument.
      assert.deepEqual(out.kw, { ok: [1, { b: 2 }] });
    });

    it("a Celeriac error reaches Python as the builtin exception it names", () => {
      assert.deepEqual(out.boom, { error: "ValueError", module: "builtins", message: "nope" });
    });

    it("countdown: Python puts the ETA in the message; the worker reschedules it broker-side and runs it when due", () => {
      assert.equal(out.countdown.ok, 2);
      assert.ok(out.countdown.elapsed >= 0.95, `ran ${out.countdown.elapsed} s after sending, not before its countdown`);
    });

    it("routes to a named queue through a topic exchange", () => {
      assert.deepEqual(out.where, { ok: { exchange: n.INTEROP_TOPIC_EXCHANGE, routing_key: "reports.daily" } });
    });

    it("priorities: the Celeriac worker serves the higher ones first", () => {
      assert.deepEqual(
        out.priority.filter((t: string) => t !== "filler"),
        ["high1", "high2", "mid", "low1", "low2"],
      );
    });
  });
}

interop("rpc://", skip);
interop(REDIS_RESULTS, skipRedis);

describe("remote control (celery.pidbox) and events (celeryev) over RabbitMQ, both ways", { skip: skip ?? false }, () => {
  const n = names("ctl");
  let ours: RunningProcess;
  let theirs: PythonProcess;
  const app = interopApp("controller", "rpc://", n);
  /** A queue both workers consume: each declares it (Celery's rules for a queue named nowhere), neither fails. */
  const shared = `${n.INTEROP_QUEUE}-shared`;
  const jsHost = `js-${n.INTEROP_QUEUE}@${hostname()}`;
  const pyHost = `py-${n.INTEROP_QUEUE}@${hostname()}`;

  before(async () => {
    theirs = startPythonWorker(n, [n.INTEROP_QUEUE, shared], ["-E"]);
    ours = await startWorker(
      "test/interop/amqp-app.ts",
      ["-P", "async", "-c", "1", "-E", "-n", `js-${n.INTEROP_QUEUE}@%h`, "-Q", `${n.INTEROP_TOPIC_QUEUE},${shared}`],
      n,
    );
    await theirs.waitFor(/ready\./, 40_000);
  });
  after(async () => {
    await ours?.stop();
    await theirs?.stop();
    await app.close();
    await cleanup(n);
    await deleteAmqpEntities({ queues: [shared], exchanges: [shared] });
  });

  it("a Python and a Celeriac worker share one queue (same declaration, no PRECONDITION_FAILED)", async () => {
    const results = Array.from({ length: 30 }, () => app.sendTask<string>("interop.who", [0.02], {}, { queue: shared }));
    const ran = await Promise.all(results.map((r) => r.get({ timeout: 30_000 })));
    assert.equal(ran.length, 30);
    assert.ok(ran.includes(jsHost) && ran.includes(pyHost), `both ran some: ${JSON.stringify(ran)}`);
    assert.doesNotMatch(ours.output() + theirs.output(), /PRECONDITION_FAILED/);
  });

  it("app.control.ping() hears the Celeriac and the Python worker; `celery inspect ping` hears ours", async () => {
    const replies = await app.control.ping({ timeout: 3000 });
    const names = replies.flatMap((r) => Object.keys(r));
    assert.ok(names.includes(jsHost), `our worker answered: ${JSON.stringify(replies)}`);
    assert.ok(names.includes(pyHost), `the Python worker answered: ${JSON.stringify(replies)}`);
    const { stdout } = await promisify(execFile)(
      PYTHON,
      ["-m", "celery", "-A", "interop_tasks", "inspect", "ping", "-t", "3", "--json", "-d", `js-${n.INTEROP_QUEUE}@${hostname()}`],
      {
        cwd: PY_DIR,
        env: { ...process.env, ...n },
      },
    );
    const got = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.deepEqual(got, { [`js-${n.INTEROP_QUEUE}@${hostname()}`]: { ok: "pong" } });
  });

  it("Python's event receiver sees our worker's task events; our EventReceiver sees Python's", async () => {
    // Until it has heard our worker's task-succeeded (a minute at most): py-amqp can be slow under load.
    const listener = startPython(["events.py", "60", jsHost], { cwd: PY_DIR, env: n });
    await listener.waitFor(/listening/, 20_000);
    const seenHere: CeleryEvent[] = [];
    const receiver = new EventReceiver(await app.broker());
    await receiver.start((e) => seenHere.push(e));
    try {
      const ourTask = app.sendTask("interop.add", [1, 2], {}, { queue: n.INTEROP_TOPIC_QUEUE, routingKey: "reports.add" });
      const theirTask = app.sendTask("interop.add", [3, 4]);
      assert.deepEqual(await Promise.all([ourTask.get({ timeout: 60_000 }), theirTask.get({ timeout: 60_000 })]), [3, 7]);
      assert.equal(await listener.exited, 0, listener.output());
      const seenThere = JSON.parse(listener.output().trim().split("\n").pop()!) as { type: string; hostname: string; uuid: string | null }[];
      assert.ok(
        seenThere.some((e) => e.type === "task-succeeded" && e.uuid === ourTask.id && e.hostname === jsHost),
        `Python saw: ${JSON.stringify(seenThere.slice(0, 20))}`,
      );
      await waitUntil(
        "Python's task-succeeded event for its task",
        () => seenHere.some((e) => e.type === "task-succeeded" && e.uuid === theirTask.id),
        4000,
        100,
      );
      assert.ok(
        seenHere.some((e) => e.type === "task-succeeded" && e.uuid === theirTask.id && e.hostname === pyHost),
        `we saw: ${JSON.stringify(seenHere.map((e) => [e.type, e.hostname]))}`,
      );
      assert.ok(
        seenHere.some((e) => e.type === "worker-heartbeat" && e.hostname === pyHost),
        "Python's heartbeats",
      );
    } finally {
      await receiver.stop();
    }
  });
});
