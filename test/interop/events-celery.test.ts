// Events across languages over Redis (kombu's pub/sub channels
// /<db>.celeryev/<routing key>) and RabbitMQ (the `celeryev` topic exchange):
// Python's `celery events --dump` shows what a Celeriac worker does, and
// Celeriac's EventReceiver/State/dashboard follow a Python Celery worker
// started with -E. Redis databases 10 and 11.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { Dashboard } from "../../src/dashboard/index.js";
import type { CeleryEvent } from "../../src/events/event.js";
import { EventDispatcher } from "../../src/events/dispatcher.js";
import { EventReceiver } from "../../src/events/receiver.js";
import { State, workerAlive } from "../../src/events/state.js";
import { startProcess, startWorker } from "../support/processes.js";
import { PYTHON, pythonCeleryAvailable, startPythonWorker } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";
import { AMQP_URL, deleteAmqpEntities, requireRabbit } from "../support/amqp.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitUntil } from "../support/wait.js";

const available = (await redisAvailable()) && (await pythonCeleryAvailable());

/** Runs `celery events --dump` against a broker URL (in a process group of its own); resolves once it captures. */
async function celeryEventsDump(brokerUrl: string): Promise<{ proc: ChildProcess; text: () => string }> {
  const dump = startProcess(PYTHON, ["-m", "celery", "-b", brokerUrl, "events", "--dump"], { env: { PYTHONUNBUFFERED: "1" } });
  await waitUntil(
    () => `celery events to start: ${dump.output()}`,
    () => /starting capture/.test(dump.output()),
    30_000,
  );
  // The dumper subscribes right after saying so and prints nothing when it has: a probe's
  // heartbeats go out until one shows in the dump.
  const probe = new Celeriac({ name: "probe", broker: brokerUrl });
  const dispatcher = new EventDispatcher(await probe.broker(), { hostname: `probe-${randomUUID().slice(0, 8)}@test` });
  try {
    await waitUntil(
      () => `the dump to show a probe's heartbeat: ${dump.output().slice(-2000)}`,
      async () => {
        dispatcher.send("worker-heartbeat", { freq: 2 });
        await dispatcher.flush();
        return /probe-\S+ \[.*\] heartbeat:/.test(dump.output());
      },
      30_000,
      100,
    );
  } finally {
    await probe.close();
  }
  return { proc: dump.proc, text: dump.output };
}

describe("events interop with Python Celery 5.2.6 (Redis, RabbitMQ)", { skip: !available }, () => {
  it("celery events --dump shows a Celeriac worker's events", async () => {
    const url = redisUrl(10);
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const queue = `events-ts-${randomUUID().slice(0, 8)}`;
    const dump = await celeryEventsDump(url);
    const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "2", "-E", "-Q", queue, "-n", "tsev@%h"], env);
    const app = new Celeriac({ name: "client", broker: url, backend: url });
    const ok = app.sendTask("fixture.add", [2, 3], {}, { queue });
    const bad = app.sendTask("fixture.fail", ["boom"], {}, { queue });
    assert.equal(await ok.get({ timeout: 10_000 }), 5);
    await bad.get({ timeout: 10_000, propagate: false });
    await waitUntil(
      () => `the dump to show our events:\n${dump.text().slice(-4000)}`,
      () =>
        dump.text().includes(`task succeeded: fixture.add(${ok.id}) args=(2, 3) kwargs={}`) &&
        dump.text().includes(`task failed: fixture.fail(${bad.id})`) &&
        /tsev@\S+ \[.*\] heartbeat:/.test(dump.text()),
      15_000,
    );
    assert.match(dump.text(), new RegExp(`task succeeded: fixture\\.add\\(${ok.id}\\) args=\\(2, 3\\) kwargs=\\{\\} .*result=5`));
    assert.match(dump.text(), new RegExp(`task failed: fixture\\.fail\\(${bad.id}\\).*exception=RangeError\\('boom'\\)`));
    assert.match(dump.text(), /tsev@\S+ \[.*\] heartbeat: .*sw_ident=celeriac/);
    await worker.stop();
    await waitUntil(
      () => `worker-offline in the dump:\n${dump.text().slice(-2000)}`,
      () => /tsev@\S+ \[.*\] shutdown:/.test(dump.text()),
      10_000,
    );
    dump.proc.kill("SIGTERM");
    await app.close();
  });

  it("Celeriac's EventReceiver, State and dashboard follow a Python worker started with -E", async () => {
    const url = redisUrl(11);
    const queue = `events-py-${randomUUID().slice(0, 8)}`;
    const app = new Celeriac({ name: "client", broker: url, backend: url });
    const events: CeleryEvent[] = [];
    const state = new State();
    const receiver = new EventReceiver(await app.broker());
    await receiver.start((e) => {
      events.push(e);
      state.event(e);
    });
    const dashboard = new Dashboard(app, { port: 0, pollIntervalMs: 500 });
    const base = await dashboard.start();
    const py = await startPythonWorker({ INTEROP_REDIS_URL: url, INTEROP_PY_QUEUE: queue }, ["-E", "-Q", queue]);
    try {
      const ok = app.sendTask("py.add", [20, 22], {}, { queue });
      const bad = app.sendTask("py.fail", ["nope"], {}, { queue });
      assert.equal(await ok.get({ timeout: 15_000 }), 42);
      await bad.get({ timeout: 15_000, propagate: false });
      await waitUntil(
        () => `Python's events: ${JSON.stringify(events.map((e) => e.type))}`,
        () =>
          state.tasks.get(ok.id)?.state === "SUCCESS" &&
          state.tasks.get(bad.id)?.state === "FAILURE" &&
          [...state.workers.values()].some((w) => w.sw_ident === "py-celery" && workerAlive(w)),
        15_000,
      );
      const t = state.tasks.get(ok.id)!;
      assert.equal(t.name, "py.add");
      assert.equal(t.args, "(20, 22)");
      assert.equal(t.result, "42");
      assert.equal(typeof t.runtime, "number");
      const f = state.tasks.get(bad.id)!;
      // Celery 5.2's own task-failed says "ExceptionWithTraceback()" here (it reprs its wrapper); the traceback names the error.
      assert.match(f.exception ?? "", /ValueError\('nope'\)|ExceptionWithTraceback/);
      assert.match(f.traceback ?? "", /ValueError: nope/);
      const w = [...state.workers.values()].find((x) => x.sw_ident === "py-celery")!;
      assert.equal(f.worker, w.hostname);
      assert.equal(typeof w.freq, "number");

      // The dashboard, from the same stream: the Python worker online, with its queue and pool size.
      await waitUntil(
        () => "the dashboard's state",
        () => dashboard.state.tasks.get(ok.id)?.state === "SUCCESS",
        10_000,
      );
      type Overview = { workers: { hostname: string; online: boolean; queues: string[]; concurrency: number | null }[] };
      let overview: Overview = { workers: [] };
      await waitUntil(
        () => `the dashboard overview to show ${w.hostname} on ${queue}: ${JSON.stringify(overview)}`,
        async () => {
          overview = (await (await fetch(`${base}/api/overview`)).json()) as Overview;
          return overview.workers.some((x) => x.hostname === w.hostname && x.queues.includes(queue));
        },
        10_000,
        250,
      );
      const pw = overview.workers.find((x) => x.hostname === w.hostname)!;
      assert.ok(pw.online);
      assert.deepEqual(pw.queues, [queue]);
      assert.equal(pw.concurrency, 1);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^celeriac_tasks_total\{name="py.add",state="SUCCESS"\} 1$/m);
      assert.match(metrics, /^celeriac_tasks_total\{name="py.fail",state="FAILURE"\} 1$/m);
    } finally {
      await py.stop();
      await dashboard.close();
      await receiver.stop();
      await app.close();
    }
  });

  it("celery events --dump over RabbitMQ shows a Celeriac worker's events", async (t) => {
    const why = await requireRabbit();
    if (why) return t.skip(why);
    const dir = mkdtempSync(join(tmpdir(), "celeriac-events-amqp-"));
    const results = `sqlite://${join(dir, "results.db")}`;
    const queue = `events-amqp-${randomUUID().slice(0, 8)}`;
    const env = { CELERIAC_BROKER_URL: AMQP_URL, CELERIAC_RESULT_BACKEND: results };
    const dump = await celeryEventsDump(AMQP_URL);
    const worker = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "2", "-E", "-Q", queue, "-n", `amqpev-${queue}@%h`], env);
    const app = new Celeriac({ name: "client", broker: AMQP_URL, backend: results });
    try {
      const ok = app.sendTask("fixture.add", [4, 4], {}, { queue });
      assert.equal(await ok.get({ timeout: 15_000 }), 8);
      await waitUntil(
        () => `the dump to show our events:\n${dump.text().slice(-3000)}`,
        () =>
          dump.text().includes(`task succeeded: fixture.add(${ok.id}) args=(4, 4) kwargs={}`) &&
          new RegExp(`amqpev-${queue}@\\S+ \\[.*\\] heartbeat:`).test(dump.text()),
        15_000,
      );
      assert.match(dump.text(), new RegExp(`task succeeded: fixture\\.add\\(${ok.id}\\) .*result=8`));
    } finally {
      await worker.stop();
      dump.proc.kill("SIGTERM");
      await app.close();
      await deleteAmqpEntities({ queues: [queue] });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
