// Events in Celery's format from a real worker process (-E) over a sqlite
// broker: every field Celery's tools read, with its type; the State that
// folds them; remote enable/disable of task events.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import type { CeleryEvent } from "../../src/events/event.js";
import { EventReceiver } from "../../src/events/receiver.js";
import { State, workerAlive } from "../../src/events/state.js";
import { CLI, startNode, startWorker } from "../support/processes.js";
import { pythonCeleryAvailable, runPython } from "../support/python.js";
import { waitUntil } from "../support/wait.js";

const APP = "test/fixtures/app.ts";
const dir = mkdtempSync(join(tmpdir(), "celeriac-events-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const COMMON = { hostname: "string", utcoffset: "number", pid: "number", clock: "number", timestamp: "number", type: "string" };

function assertFields(e: CeleryEvent | undefined, fields: Record<string, string | string[]>): void {
  assert.ok(e, "event present");
  for (const [k, t] of Object.entries({ ...COMMON, ...fields })) {
    const types = Array.isArray(t) ? t : [t];
    const actual = e[k] === null ? "null" : Array.isArray(e[k]) ? "array" : typeof e[k];
    assert.ok(k in e, `${e.type} has ${k}`);
    assert.ok(types.includes(actual), `${e.type}.${k} is ${types.join("|")}, got ${actual} (${JSON.stringify(e[k])})`);
  }
}

/** The events the first test saw, for the Python check. */
const captured: CeleryEvent[] = [];
const ids: { ok?: string; bad?: string } = {};

describe("events from a worker process", () => {
  it("sends task and worker events with Celery's fields, and State folds them", async () => {
    const url = `sqlite://${join(dir, "events.db")}`;
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const app = new Celeriac({ name: "client", broker: url, backend: url, taskSendSentEvent: true });
    const events: CeleryEvent[] = [];
    const keys: string[] = [];
    const badKeys: string[] = [];
    const state = new State();
    const broker = await app.broker();
    // The routing key is checked through a raw subscription; the receiver gives parsed events.
    const unsubscribe = await broker.subscribeFanout!("celeryev", "#", (m, key) => {
      keys.push(key);
      // One event: its type with dots; a batch (a list): "<group>.multi", as Celery does.
      const body = JSON.parse(m.body.toString("utf8")) as CeleryEvent | CeleryEvent[];
      const expected = Array.isArray(body) ? `${body[0]!.type.split("-")[0]}.multi` : body.type.replace(/-/g, ".");
      if (key !== expected) badKeys.push(`${key} for ${JSON.stringify(body).slice(0, 80)}`);
    });
    const receiver = new EventReceiver(broker);
    await receiver.start((e) => {
      events.push(e);
      state.event(e);
    });
    const worker = await startWorker(APP, ["-c", "2", "-l", "info", "-E", "-n", "ev@%h"], env);
    const ok = app.sendTask("fixture.add", [2, 3], {}, {});
    const bad = app.sendTask("fixture.fail", ["boom"]);
    const retried = app.sendTask("fixture.retryOnce", ["job"]);
    assert.equal(await ok.get({ timeout: 10_000 }), 5);
    await bad.get({ timeout: 10_000, propagate: false });
    assert.equal(await retried.get({ timeout: 10_000 }), "job after 1 retry");
    const done = (type: string, id: string) => events.some((e) => e.type === type && e.uuid === id);
    await waitUntil("task events", () => done("task-succeeded", ok.id) && done("task-failed", bad.id) && done("task-succeeded", retried.id), 10_000);
    await waitUntil("a heartbeat", () => events.some((e) => e.type === "worker-heartbeat"), 6_000);
    captured.push(...events.map((e) => ({ ...e })));
    ids.ok = ok.id;
    ids.bad = bad.id;

    const of = (type: string, id?: string) => events.find((e) => e.type === type && (!id || e.uuid === id));
    const sent = of("task-sent", ok.id);
    assertFields(sent, {
      uuid: "string",
      name: "string",
      args: "string",
      kwargs: "string",
      root_id: "string",
      parent_id: "null",
      retries: "number",
      eta: "null",
      expires: "null",
      queue: "string",
      exchange: "string",
      routing_key: "string",
    });
    assert.match(sent!.hostname, /^gen\d+@/);
    const received = of("task-received", ok.id);
    assertFields(received, {
      uuid: "string",
      name: "string",
      args: "string",
      kwargs: "string",
      root_id: "string",
      parent_id: ["null", "string"],
      retries: "number",
      eta: "null",
      expires: "null",
    });
    assert.equal(received!.args, "(2, 3)");
    assert.equal(received!.kwargs, "{}");
    assert.equal(received!.name, "fixture.add");
    assert.match(received!.hostname, /^ev@/);
    assertFields(of("task-started", ok.id), { uuid: "string" });
    const succeeded = of("task-succeeded", ok.id);
    assertFields(succeeded, { uuid: "string", result: "string", runtime: "number" });
    assert.equal(succeeded!.result, "5");
    const failed = of("task-failed", bad.id);
    assertFields(failed, { uuid: "string", exception: "string", traceback: "string" });
    assert.equal(failed!.exception, "RangeError('boom')");
    assert.match(failed!.traceback as string, /boom/);
    assertFields(of("task-retried", retried.id), { uuid: "string", exception: "string", traceback: "string" });
    assert.equal(of("task-retried", retried.id)!.exception, "Exception('first attempt fails')");
    const second = events.filter((e) => e.type === "task-received" && e.uuid === retried.id).map((e) => e.retries);
    assert.deepEqual(second, [0, 1], "received again with retries 1");
    const online = of("worker-online");
    const heartbeat = of("worker-heartbeat");
    for (const e of [online, heartbeat]) {
      assertFields(e, { freq: "number", active: "number", processed: "number", loadavg: "array", sw_ident: "string", sw_ver: "string", sw_sys: "string" });
    }
    assert.equal(heartbeat!.sw_ident, "celeriac");
    assert.equal(heartbeat!.freq, 2);
    // Celery's routing keys: the type with dots, or task.multi for a batch.
    assert.deepEqual(badKeys, []);
    for (const k of ["task.sent", "worker.online", "worker.heartbeat"]) {
      assert.ok(keys.includes(k), `routing key ${k} seen (${[...new Set(keys)].join(", ")})`);
    }
    // Clocks grow per sender.
    const workerClocks = events.filter((e) => e.hostname.startsWith("ev@")).map((e) => e.clock);
    assert.ok(
      workerClocks.every((c, i) => i === 0 || c > workerClocks[i - 1]!),
      "worker clock increases",
    );

    // The State.
    const t = state.tasks.get(ok.id)!;
    assert.equal(t.state, "SUCCESS");
    assert.equal(t.name, "fixture.add");
    assert.equal(t.result, "5");
    assert.match(t.worker!, /^ev@/);
    assert.equal(typeof t.runtime, "number");
    assert.equal(state.tasks.get(bad.id)!.state, "FAILURE");
    assert.equal(state.tasks.get(retried.id)!.state, "SUCCESS");
    assert.equal(state.tasks.get(retried.id)!.retries, 1);
    assert.equal(state.tasksList({ state: "FAILURE" }).length, 1);
    assert.equal(state.tasksList({ search: "boom" })[0]!.uuid, bad.id);
    const w = [...state.workers.values()].find((x) => x.hostname.startsWith("ev@"))!;
    assert.ok(workerAlive(w), "worker alive");
    assert.ok((w.processed as number) >= 0);

    // disable_events: no more task events, heartbeats go on.
    const disable = startNode([CLI, "control", "disable_events", "-t", "3"], env);
    assert.equal(await disable.exited, 0, disable.output());
    assert.match(disable.output(), /ev@\S+: [\s\S]*task events disabled/);
    const before = events.length;
    const quiet = app.sendTask("fixture.add", [1, 1]);
    await quiet.get({ timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(events.slice(before).filter((e) => e.type.startsWith("task-") && e.type !== "task-sent").length, 0, "no task events after disable_events");

    assert.equal(await worker.stop(), 0);
    await waitUntil("worker-offline", () => events.some((e) => e.type === "worker-offline"), 5_000);
    assert.ok(!workerAlive(w), "worker offline after it stops");
    await receiver.stop();
    await unsubscribe();
    await app.close();
  });

  it("celeriac events --dump prints each event as a line", async () => {
    const url = `sqlite://${join(dir, "dump.db")}`;
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const dump = startNode([CLI, "events", "--dump"], env);
    await dump.waitFor(/dumping events from sqlite:/);
    const worker = await startWorker(APP, ["-P", "async", "-c", "1", "-l", "warning", "-E", "-n", "dump@%h"], env);
    const app = new Celeriac({ name: "client", broker: url, backend: url });
    const r = app.sendTask("fixture.add", [20, 1]);
    assert.equal(await r.get({ timeout: 10_000 }), 21);
    await dump.waitFor(new RegExp(`dump@\\S+ \\[[\\d: .-]+\\] task succeeded: fixture\\.add\\(${r.id}\\) args=\\(20, 1\\) kwargs=\\{\\} .*result=21`), 10_000);
    await dump.waitFor(/dump@\S+ \[.*\] started: .*sw_ident=celeriac/);
    // The live view, piped: frames with the worker and the task.
    const top = startNode([CLI, "events", "--refresh", "0.3"], env);
    await top.waitFor(/1\/1 workers online/, 10_000);
    const again = app.sendTask("fixture.add", [5, 5]);
    await again.get({ timeout: 10_000 });
    await top.waitFor(new RegExp(`${again.id} fixture\\.add\\s+SUCCESS\\s+10 \\(`), 10_000);
    assert.match(top.output(), /dump@\S+\s+online/);
    assert.equal(await top.stop(), 0);
    await worker.stop();
    await dump.waitFor(/dump@\S+ \[.*\] shutdown:/, 10_000);
    assert.equal(await dump.stop(), 0);
    await app.close();
  });

  it("a burst of task events goes out as task.multi batches; a lone event alone", async () => {
    const url = `memory://batch-${Date.now()}`;
    const app = new Celeriac({ name: "b", broker: url, backend: url });
    const broker = await app.broker();
    const seen: { key: string; n: number }[] = [];
    const off = await broker.subscribeFanout!("celeryev", "#", (m, key) => {
      const body = JSON.parse(m.body.toString("utf8")) as unknown;
      seen.push({ key, n: Array.isArray(body) ? body.length : 1 });
    });
    const { EventDispatcher } = await import("../../src/events/dispatcher.js");
    const d = new EventDispatcher(broker, { hostname: "b@h", bufferGroups: ["task"], bufferLimit: 24 });
    for (let i = 0; i < 30; i++) d.send("task-started", { uuid: String(i) });
    await d.flush();
    d.send("task-succeeded", { uuid: "lone", result: "1", runtime: 0 });
    d.send("worker-heartbeat", { freq: 2 });
    await new Promise((r) => setTimeout(r, 50));
    await d.flush();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, [
      { key: "task.multi", n: 24 },
      { key: "task.multi", n: 6 },
      { key: "worker.heartbeat", n: 1 },
      { key: "task.succeeded", n: 1 },
    ]);
    await off();
    await app.close();
  });

  it("State merges out-of-order events by Celery's precedence", () => {
    const s = new State();
    const base = { hostname: "w@h", utcoffset: 0, pid: 1, clock: 1 };
    s.event({ ...base, type: "task-succeeded", uuid: "a", result: "1", runtime: 0.1, timestamp: 3 });
    s.event({ ...base, type: "task-received", uuid: "a", name: "x.y", args: "()", kwargs: "{}", timestamp: 1 });
    s.event({ ...base, type: "task-started", uuid: "a", timestamp: 2 });
    const t = s.tasks.get("a")!;
    assert.equal(t.state, "SUCCESS");
    assert.equal(t.name, "x.y");
    assert.equal(t.timestamp, 3);
    s.event({ ...base, type: "task-received", uuid: "b", name: "x.z", parent_id: "a", timestamp: 4 });
    assert.deepEqual(t.children, ["b"]);
    // A child seen before its parent is linked when the parent arrives.
    s.event({ ...base, type: "task-received", uuid: "d", name: "x.z", parent_id: "c", timestamp: 5 });
    s.event({ ...base, type: "task-received", uuid: "c", name: "x.y", timestamp: 6 });
    assert.deepEqual(s.tasks.get("c")!.children, ["d"]);
  });

  it("Celery's own events.state.State and --dump read our events", async (t) => {
    if (!(await pythonCeleryAvailable())) return t.skip("Python Celery is not installed");
    assert.ok(captured.length > 0 && ids.ok && ids.bad, "the first test captured events");
    const file = join(dir, "events.json");
    writeFileSync(file, JSON.stringify(captured));
    type PyTask = { state: string; name: string; args: string; result: string | null; runtime: number | null; exception: string | null; worker: string | null };
    const py = await runPython<{ tasks: Record<string, PyTask>; workers: Record<string, { alive: boolean; sw_ident: string; freq: number }>; dump: string[] }>(
      "events_state.py",
      [file],
      {},
    );
    const ok = py.tasks[ids.ok!]!;
    assert.equal(ok.state, "SUCCESS");
    assert.equal(ok.name, "fixture.add");
    assert.equal(ok.args, "(2, 3)");
    assert.equal(ok.result, "5");
    assert.equal(typeof ok.runtime, "number");
    assert.match(ok.worker!, /^ev@/);
    const bad = py.tasks[ids.bad!]!;
    assert.equal(bad.state, "FAILURE");
    assert.equal(bad.exception, "RangeError('boom')");
    const [host, w] = Object.entries(py.workers).find(([h]) => h.startsWith("ev@"))!;
    assert.ok(w.alive, `Celery sees ${host} alive`);
    assert.equal(w.sw_ident, "celeriac");
    assert.equal(w.freq, 2);
    assert.ok(
      py.dump.some((l) => l.includes("task succeeded") && l.includes(ids.ok!) && l.includes("result=5")),
      py.dump.join("\n"),
    );
  });
});
