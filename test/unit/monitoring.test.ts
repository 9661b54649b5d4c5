// Monitoring pieces that need no process: reading Python literals back,
// chart buckets, event lines, the terminal view, exposure rules.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { API_ROUTES } from "../../src/dashboard/api-index.js";
import { checkExposure, isLoopback } from "../../src/dashboard/auth.js";
import { TaskSeries } from "../../src/dashboard/series.js";
import { EventDumper } from "../../src/events/dump.js";
import { decodeEvents, encodeEvent, groupOf, routingKeyOf } from "../../src/events/event.js";
import { State } from "../../src/events/state.js";
import { renderTop } from "../../src/events/top.js";
import { ConfigurationError, DecodeError } from "../../src/errors.js";
import { parsePythonLiteral } from "../../src/protocol/literal.js";
import { argsRepr, kwargsRepr } from "../../src/protocol/repr.js";
import { exceptionRepr } from "../../src/worker/task-events.js";

describe("parsePythonLiteral", () => {
  it("reads back what argsRepr/kwargsRepr write", () => {
    const args = [1, -2.5, "it's", null, true, false, [1, [2]], { a: "b", n: 3 }];
    assert.deepEqual(parsePythonLiteral(argsRepr(args)), args);
    assert.deepEqual(parsePythonLiteral(argsRepr(["one"])), ["one"]);
    assert.deepEqual(parsePythonLiteral(kwargsRepr({ y: 5, s: "line\nbreak" })), { y: 5, s: "line\nbreak" });
    assert.deepEqual(parsePythonLiteral("()"), []);
    assert.deepEqual(parsePythonLiteral('("double", 1e3, 1_000)'), ["double", 1000, 1000]);
  });
  it("refuses truncated or object reprs", () => {
    assert.throws(() => parsePythonLiteral("(1, 2, ..."), DecodeError);
    assert.throws(() => parsePythonLiteral("(<object at 0x7f>,)"), DecodeError);
    assert.throws(() => parsePythonLiteral("(1, 2) extra"), DecodeError);
  });
});

describe("events", () => {
  it("routing keys and groups are Celery's", () => {
    assert.equal(routingKeyOf("task-succeeded"), "task.succeeded");
    assert.equal(routingKeyOf("worker-heartbeat"), "worker.heartbeat");
    assert.equal(groupOf("task-sent"), "task");
  });
  it("encodes one event, decodes one or a task.multi batch", () => {
    const e = { type: "task-started", hostname: "w@h", utcoffset: 0, pid: 1, clock: 2, timestamp: 3, uuid: "x" };
    const msg = encodeEvent(e, "w@h", "task.started");
    assert.deepEqual(msg.headers, { hostname: "w@h" });
    assert.equal(msg.properties.delivery_mode, 1);
    assert.deepEqual(decodeEvents(msg), [e]);
    assert.deepEqual(decodeEvents(encodeEvent([e, e], "w@h", "task.multi")).length, 2);
    assert.throws(() => decodeEvents({ ...msg, body: Buffer.from("{") }), DecodeError);
  });
  it("reprs exceptions as Python does", () => {
    assert.equal(exceptionRepr({ exc_type: "ValueError", exc_message: ["nope"], exc_module: "builtins" }), "ValueError('nope')");
    assert.equal(exceptionRepr({ exc_type: "KeyError", exc_message: ["a", 1], exc_module: "builtins" }), "KeyError('a', 1)");
  });
  it("dumps lines like celery events --dump", () => {
    const d = new EventDumper();
    const base = { hostname: "w@h", utcoffset: 0, pid: 1, clock: 1, timestamp: 1_700_000_000 };
    const received = d.format({ ...base, type: "task-received", uuid: "id1", name: "p.add", args: "(2, 3)", kwargs: "{}" });
    assert.match(received, /^w@h \[2023-11-14 22:13:20\.000\] task received: p\.add\(id1\) args=\(2, 3\) kwargs=\{\}/);
    const ok = d.format({ ...base, type: "task-succeeded", uuid: "id1", result: "5", runtime: 0.1 });
    assert.match(ok, /task succeeded: p\.add\(id1\) args=\(2, 3\) kwargs=\{\} .*result=5, runtime=0\.1/);
    assert.match(d.format({ ...base, type: "worker-heartbeat", freq: 2 }), /w@h \[.*\] heartbeat: .*freq=2/);
  });
  it("draws the terminal view", () => {
    const s = new State();
    const now = Date.now() / 1000;
    s.event({ type: "worker-online", hostname: "w@h", utcoffset: 0, pid: 1, clock: 1, timestamp: now, local_received: now, freq: 2, active: 0, processed: 3 });
    s.event({ type: "task-received", hostname: "w@h", utcoffset: 0, pid: 1, clock: 2, timestamp: now, uuid: "abc", name: "p.add", args: "(1, 2)" });
    s.event({ type: "task-succeeded", hostname: "w@h", utcoffset: 0, pid: 1, clock: 3, timestamp: now, uuid: "abc", result: "3", runtime: 0.002 });
    const screen = renderTop(s, { width: 100, rows: 20 });
    assert.match(screen, /1\/1 workers online/);
    assert.match(screen, /w@h\s+online/);
    assert.match(screen, /abc\s+p\.add\s+SUCCESS\s+3 \(0\.002s\)/);
  });
});

describe("dashboard pieces", () => {
  it("buckets finished tasks for the charts", () => {
    const s = new TaskSeries(5, 10);
    s.record("succeeded", 1000.5, 0.1);
    s.record("succeeded", 1001, 0.3);
    s.record("failed", 1004.9, null);
    s.record("succeeded", 1010, 1);
    const pts = s.points(1012, 4);
    assert.deepEqual(
      pts.map((p) => p.t),
      [995, 1000, 1005, 1010],
    );
    assert.deepEqual(
      pts.map((p) => [p.succeeded, p.failed]),
      [
        [0, 0],
        [2, 1],
        [0, 0],
        [1, 0],
      ],
    );
    assert.ok(Math.abs(pts[1]!.avgRuntime! - 0.2) < 1e-9);
    assert.equal(pts[1]!.p95Runtime, 0.3);
    assert.equal(pts[2]!.avgRuntime, null);
  });
  it("needs a token anywhere but loopback", () => {
    assert.ok(isLoopback("127.0.0.1") && isLoopback("::1") && isLoopback("localhost") && isLoopback("[::1]"));
    assert.ok(!isLoopback("0.0.0.0") && !isLoopback("::") && !isLoopback("10.0.0.5"));
    assert.ok(!isLoopback("127.evil.test") && !isLoopback("localhost.evil.test"), "a name that merely starts like loopback");
    assert.doesNotThrow(() => checkExposure("127.0.0.1", null));
    assert.doesNotThrow(() => checkExposure("0.0.0.0", "t"));
    assert.throws(() => checkExposure("0.0.0.0", null), ConfigurationError);
    assert.throws(() => checkExposure("::", ""), ConfigurationError);
  });
});

describe("the dashboard's API documentation", () => {
  it("docs/monitoring.md's table lists exactly the routes GET /api/ lists", () => {
    const doc = readFileSync(new URL("../../docs/monitoring.md", import.meta.url), "utf8");
    const documented = [...doc.matchAll(/^\| (GET|POST) \| `([^`]+)` \|/gm)].map((m) => `${m[1]} ${m[2]!.split("?")[0]}`);
    const served = API_ROUTES.map((r) => `${r.method} ${r.path.split("?")[0]}`);
    assert.deepEqual([...documented].sort(), [...served].sort());
  });
});
