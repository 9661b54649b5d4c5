// What Celery's own integration suite checks of a worker (t/integration/
// test_tasks.py, test_canvas.py), against a Celeriac worker on the process
// pool (the default) fed by a real Python Celery 5.2.6 producer over Redis and RabbitMQ:
// expiry checked again before a task runs, message properties on the request,
// a task recovering from its soft time limit, and returned signatures and
// results stored as Celery stores them.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { hostname } from "node:os";
import { pythonCeleryAvailable, runPython } from "../support/python.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const URL = redisUrl(12);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());
// Over Redis, and over RabbitMQ with the results in Redis.
const brokers: [string, string, boolean][] = [
  ["Redis", URL, available],
  ["RabbitMQ", AMQP_URL, available && (await requireRabbit()) === null],
];

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
  error?: { type: string; message: string };
}

for (const [brokerName, broker, runs] of brokers) {
  describe(`a Celeriac worker as Celery's integration tests see it (Python producer, ${brokerName})`, { skip: !runs }, () => {
    const queue = `parity-${randomUUID().slice(0, 8)}`;
    const send = (calls: { name: string; args?: unknown[]; kwargs?: Record<string, unknown>; options?: Record<string, unknown>; wait?: number }[]) =>
      runPython<PyOutcome[]>("produce.py", [JSON.stringify(calls.map((c) => ({ ...c, options: { queue, ...c.options } })))], {
        INTEROP_REDIS_URL: URL,
        INTEROP_BROKER_URL: broker,
        INTEROP_PY_QUEUE: queue,
      });
    let worker: RunningProcess;
    const node = `parity-${queue}@${hostname()}`;

    before(async () => {
      worker = await startWorker("test/fixtures/parity-app.ts", ["-P", "process", "-c", "1", "-Q", queue, "-n", node], {
        CELERIAC_BROKER_URL: broker,
        CELERIAC_RESULT_BACKEND: URL,
        // Tasks the worker's tasks send (parity.returnResult) go to the test's queue too, not to a shared "celery".
        CELERIAC_TASK_DEFAULT_QUEUE: queue,
      });
    });
    after(async () => {
      await worker?.stop();
      if (broker.startsWith("amqp")) await deleteAmqpEntities({ queues: [queue] });
    });

    it("a task that expires while it waits for a pool slot is revoked, not run (test_expired)", async () => {
      const [first, second, expiring] = await send([
        { name: "parity.sleeping", args: [1], wait: 20 },
        { name: "parity.sleeping", args: [1], wait: 20 },
        { name: "parity.add", args: [1, 1], options: { expires: 1 }, wait: 20 },
      ]);
      assert.equal(first!.result, 1);
      assert.equal(second!.result, 1);
      assert.equal(expiring!.error?.type, "TaskRevokedError");
      assert.equal(expiring!.state, "REVOKED");
    });

    it("keyword arguments from Python reach the parameters by name, with Python's TypeErrors", async () => {
      const [byName, mixed, missing, unexpected] = await send([
        { name: "parity.addByName", kwargs: { x: 1, y: 2 }, wait: 20 },
        { name: "parity.addByName", args: [10], kwargs: { y: 5 }, wait: 20 },
        { name: "parity.addByName", kwargs: { x: 1 }, wait: 20 },
        { name: "parity.add", kwargs: { x: 1, y: 2 }, wait: 20 },
      ]);
      assert.equal(byName!.result, 3);
      assert.equal(mixed!.result, 15);
      assert.equal(missing!.error?.type, "TypeError");
      assert.equal(missing!.error?.message, "add() missing 1 required positional argument: 'y'");
      assert.equal(unexpected!.error?.type, "TypeError", "a task without params fails a keyword call rather than returning a wrong value");
    });

    it("answers Celery's inspect: clock, registered (with attributes), active_queues, query_task, report, conf (test_inspect)", async () => {
      // A task running while query_task asks about it.
      const [running] = await send([{ name: "parity.sleeping", args: [2] }]);
      const got = await runPython<Record<string, unknown>>("inspect_worker.py", [node, running!.id], {
        INTEROP_REDIS_URL: URL,
        INTEROP_BROKER_URL: broker,
        INTEROP_PY_QUEUE: queue,
      });
      assert.ok((got.clock as { clock: number }).clock > 0);
      assert.ok((got.registered as string[]).includes("parity.add"));
      assert.ok(!(got.registered as string[]).some((n) => n.startsWith("celery.")), "builtins only when asked");
      for (const line of got.registered_name as string[]) assert.match(line, /^\S+ \[name=\S+\]$/);
      const [q] = got.active_queues as Record<string, unknown>[];
      assert.equal(q!.name, queue);
      // The worker's queue is its app's default queue here: bound with the default routing key, as the AMQP broker declares it.
      assert.equal(q!.routing_key, "celery");
      assert.deepEqual(q!.exchange, {
        arguments: null,
        auto_delete: false,
        delivery_mode: null,
        durable: true,
        name: "celery",
        no_declare: false,
        passive: false,
        type: "direct",
      });
      assert.deepEqual(Object.keys(q!).sort(), [
        "alias",
        "auto_delete",
        "binding_arguments",
        "bindings",
        "consumer_arguments",
        "durable",
        "exchange",
        "exclusive",
        "expires",
        "max_length",
        "max_length_bytes",
        "max_priority",
        "message_ttl",
        "name",
        "no_ack",
        "no_declare",
        "queue_arguments",
        "routing_key",
      ]);
      const [state, info] = (got.query_task as Record<string, [string, { id: string; name: string; args: unknown[] }]>)[running!.id]!;
      assert.ok(state === "active" || state === "reserved", state);
      assert.equal(info.name, "parity.sleeping");
      assert.deepEqual(info.args, [2]);
      assert.deepEqual(got.query_unknown, {});
      assert.match((got.report as { ok: string }).ok, /software -> celeriac:/);
      const conf = got.conf as Record<string, unknown>;
      // Python's inspect().conf(): the settings that differ from the defaults, by Celery's snake_case names.
      for (const key of Object.keys(conf)) assert.match(key, /^[a-z][a-z0-9_]*$/);
      assert.equal(conf.broker_url, broker.replace(/:[^:@/]+@/, ":********@"), "the password masked as Celery masks it");
      assert.equal(conf.result_backend, URL);
      assert.equal(conf.task_default_queue, queue);
    });

    it("the request carries the message properties (test_properties)", async () => {
      const [out] = await send([{ name: "parity.properties", options: { app_id: "1234" }, wait: 20 }]);
      const props = out!.result as Record<string, unknown>;
      assert.equal(props.app_id, "1234");
      assert.equal(props.correlation_id, out!.id);
    });

    it("a task that handles its soft time limit succeeds with what it returns (test_chord_soft_timeout_recuperation)", async () => {
      const [out] = await send([{ name: "parity.softRecover", options: { soft_time_limit: 0.5 }, wait: 20 }]);
      assert.equal(out!.state, "SUCCESS");
      assert.equal(out!.result, "recovered from SoftTimeLimitExceeded");
    });

    it("a returned signature is stored as its dict, a returned result as Celery's as_tuple()", async () => {
      const [sig, result, groupResult] = await send([
        { name: "parity.returnSignature", wait: 20 },
        { name: "parity.returnResult", wait: 20 },
        { name: "parity.returnGroupResult", wait: 20 },
      ]);
      assert.equal(sig!.state, "SUCCESS", JSON.stringify(sig));
      const dict = sig!.result as { task: string; args: unknown[] };
      assert.equal(dict.task, "parity.add");
      assert.deepEqual(dict.args, [1, 2]);
      const [[childId, parent], members] = result!.result as [[string, unknown], unknown];
      assert.match(childId, /^[0-9a-f-]{36}$/);
      assert.equal(parent, null);
      assert.equal(members, null);
      const [[groupId], groupMembers] = groupResult!.result as [[string, unknown], [[string, unknown], unknown][]];
      assert.match(groupId, /^[0-9a-f-]{36}$/);
      assert.equal(groupMembers.length, 2);
    });
  });
}
