// Protocol v2: our encoding, Python's bytes, and each side reading the other.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { decodeTask, encodeTask, fromEnvelope, parseIsoTime, toEnvelope } from "../../src/protocol/message.js";
import { argsRepr, kwargsRepr } from "../../src/protocol/repr.js";
import { ContentDisallowed, DecodeError, MessageTooLarge } from "../../src/errors.js";
import { defaultSettings, settingsFromEnv } from "../../src/config.js";
import { logSafe } from "../../src/log.js";
import { deflateSync } from "node:zlib";

const captured = JSON.parse(readFileSync(new URL("../fixtures/python-messages.json", import.meta.url), "utf8")) as Record<string, string>;
const PY = "/usr/bin/python3";

describe("protocol v2", () => {
  it("reads a JSON task message sent by Python Celery (PROTOCOL.md §1 example)", () => {
    const m = decodeTask(fromEnvelope(captured.json!), ["json"]);
    assert.equal(m.headers.task, "proj.add");
    assert.equal(m.headers.lang, "py");
    assert.deepEqual(m.args, [2, 3]);
    assert.deepEqual(m.kwargs, { y: 5 });
    assert.deepEqual(m.embed, { callbacks: null, errbacks: null, chain: null, chord: null });
    assert.equal(m.headers.root_id, m.headers.id);
    assert.equal(m.properties.correlation_id, m.headers.id);
    assert.deepEqual(m.headers.timelimit, [null, null]);
  });

  it("reads a msgpack + zlib message with countdown, expires and priority from Python", () => {
    const env = fromEnvelope(captured.msgpack_zlib!);
    assert.equal(env.headers.compression, "application/x-gzip");
    const m = decodeTask(env, ["json", "msgpack"]);
    assert.deepEqual(m.args, ["héllo ✓"]);
    assert.deepEqual(m.kwargs, { nested: { a: [1, 2.5, null, true] } });
    assert.equal(m.properties.priority, 3);
    const eta = parseIsoTime(m.headers.eta)!;
    const expires = parseIsoTime(m.headers.expires)!;
    assert.equal(expires - eta, 60_000, "expires 120 s vs countdown 60 s");
  });

  it("refuses content types outside acceptContent", () => {
    const env = fromEnvelope(captured.msgpack_zlib!);
    assert.throws(() => decodeTask(env, ["json"]), ContentDisallowed);
  });

  it("writes every header Python sends, with Celery's defaults", () => {
    const msg = encodeTask({ task: "proj.add", args: [2, 3], kwargs: { y: 5 } });
    const py = decodeTask(fromEnvelope(captured.json!), ["json"]);
    assert.deepEqual(Object.keys(msg.headers).sort(), Object.keys(py.headers).sort());
    assert.equal(msg.headers.argsrepr, "(2, 3)");
    assert.equal(msg.headers.kwargsrepr, "{'y': 5}");
    assert.deepEqual(JSON.parse(msg.body.toString()), [[2, 3], { y: 5 }, { callbacks: null, errbacks: null, chain: null, chord: null }]);
    const env = JSON.parse(toEnvelope(msg));
    assert.deepEqual(Object.keys(env).sort(), ["body", "content-encoding", "content-type", "headers", "properties"]);
    assert.equal(env.properties.body_encoding, "base64");
    assert.equal(env["content-type"], "application/json");
    assert.equal(env["content-encoding"], "utf-8");
  });

  for (const [serializer, compression] of [
    ["json", null],
    ["msgpack", null],
    ["json", "zlib"],
    ["msgpack", "gzip"],
    ["json", "brotli"],
  ] as const) {
    it(`round-trips ${serializer}${compression ? ` + ${compression}` : ""}`, () => {
      const args = [1, "ü✓", { deep: [null, true, 2.5] }];
      const kwargs = { k: "v", n: { m: [] } };
      const eta = new Date(Date.now() + 5000);
      const msg = encodeTask({ task: "t", args, kwargs, eta, priority: 7, retries: 2, timeLimit: 10, softTimeLimit: 5 }, { serializer, compression });
      const back = decodeTask(fromEnvelope(toEnvelope(msg)), ["json", "msgpack"]);
      assert.deepEqual(back.args, args);
      assert.deepEqual(back.kwargs, kwargs);
      assert.equal(back.headers.retries, 2);
      assert.deepEqual(back.headers.timelimit, [10, 5]);
      assert.equal(parseIsoTime(back.headers.eta), eta.getTime());
      assert.equal(back.properties.priority, 7);
    });
  }

  it("Python's kombu reads our msgpack + zlib envelope", () => {
    const msg = encodeTask({ task: "proj.add", args: ["héllo", 2], kwargs: { nested: { a: [1, null] } } }, { serializer: "msgpack", compression: "zlib" });
    const script = `
import sys, json, base64
from kombu.serialization import loads
from kombu.compression import decompress
env = json.loads(sys.stdin.read())
body = base64.b64decode(env["body"])
body = decompress(body, env["headers"]["compression"])
args, kwargs, embed = loads(body, env["content-type"], env["content-encoding"], accept=["application/json", "application/x-msgpack"])
print(json.dumps({"args": list(args), "kwargs": kwargs, "embed": embed, "task": env["headers"]["task"]}))`;
    const out = execFileSync(PY, ["-c", script], { input: toEnvelope(msg) }).toString();
    const parsed = JSON.parse(out);
    assert.deepEqual(parsed.args, ["héllo", 2]);
    assert.deepEqual(parsed.kwargs, { nested: { a: [1, null] } });
    assert.equal(parsed.task, "proj.add");
    assert.deepEqual(parsed.embed, { callbacks: null, errbacks: null, chain: null, chord: null });
  });

  it("reports malformed messages with a DecodeError naming the problem", () => {
    assert.throws(() => fromEnvelope("not json"), DecodeError);
    const msg = encodeTask({ task: "t" });
    assert.throws(() => decodeTask({ ...msg, body: Buffer.from("{}") }, ["json"]), /not \[args, kwargs, embed\]/);
    assert.throws(() => decodeTask({ ...msg, headers: { ...msg.headers, task: undefined } }, ["json"]), /no task name/);
    assert.throws(() => decodeTask({ ...msg, body: Buffer.from("[1, {}, {}]") }, ["json"]), /args are not an array/);
    assert.throws(() => decodeTask({ ...msg, headers: { ...msg.headers, compression: "application/x-gzip" } }, ["json"]), DecodeError);
  });

  it("writes Python-style argsrepr/kwargsrepr", () => {
    assert.equal(argsRepr([1]), "(1,)");
    assert.equal(argsRepr(["a'b", null, true, [1.5]]), "('a\\'b', None, True, [1.5])");
    assert.equal(kwargsRepr({ a: { b: false } }), "{'a': {'b': False}}");
  });

  it("parses Python's ISO times, with or without offset and microseconds", () => {
    assert.equal(parseIsoTime("2026-11-24T14:39:35.111474+00:00"), Date.UTC(2026, 10, 24, 14, 39, 35, 111));
    assert.equal(parseIsoTime("2026-11-24T14:39:35.111474"), Date.UTC(2026, 10, 24, 14, 39, 35, 111));
    assert.equal(parseIsoTime("2026-11-24T16:39:35+02:00"), Date.UTC(2026, 10, 24, 14, 39, 35));
    assert.equal(parseIsoTime(null), null);
    assert.equal(parseIsoTime("garbage"), null);
  });
});

describe("hostile messages at decode", () => {
  const msg = () => encodeTask({ task: "t.x", args: [1], kwargs: {} });

  it("a zlib bomb (300 KB inflating to 300 MB) is refused at the default 64 MiB limit, without inflating it all", () => {
    const bomb = deflateSync(Buffer.alloc(300 * 1024 * 1024, 0x20), { level: 9 });
    assert.ok(bomb.length < 400_000);
    const limit = defaultSettings().workerMessageSizeLimit;
    assert.equal(limit, 64 * 1024 * 1024);
    const m = { ...msg(), body: bomb, headers: { ...msg().headers, compression: "application/x-gzip" } };
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => decodeTask(m, ["json"], { messageSizeLimit: limit }), MessageTooLarge);
    assert.ok(process.memoryUsage().arrayBuffers - before < 200 * 1024 * 1024, "did not inflate 300 MB");
    assert.throws(
      () => decodeTask({ ...msg(), body: Buffer.alloc(2000, 0x20) }, ["json"], { messageSizeLimit: 1000 }),
      /over the message size limit \(1000 bytes\)/,
    );
  });

  it("the size limit is a setting read from the environment", () => {
    assert.equal(settingsFromEnv({ CELERIAC_WORKER_MESSAGE_SIZE_LIMIT: "1048576" }).values.workerMessageSizeLimit, 1048576);
  });

  it("an eta or expires that does not parse is refused (as Celery does); absent ones are fine", () => {
    assert.throws(() => decodeTask({ ...msg(), headers: { ...msg().headers, eta: "soon" } }, ["json"]), /invalid eta "soon"/);
    assert.throws(() => decodeTask({ ...msg(), headers: { ...msg().headers, expires: 5 } }, ["json"]), /invalid expires 5/);
    assert.equal(decodeTask(msg(), ["json"]).headers.eta, null);
  });

  it("bad time limits and malformed embed entries are ignored with a warning; the task stays runnable", () => {
    const m = {
      ...msg(),
      headers: { ...msg().headers, timelimit: [-1, "x"] },
      body: Buffer.from('[[1], {}, {"callbacks": "x", "chain": [{"task": "ok", "args": []}, 7], "chord": 3}]'),
    };
    const t = decodeTask(m, ["json"]);
    assert.deepEqual(t.headers.timelimit, [null, null]);
    assert.equal(t.embed.callbacks, null);
    assert.deepEqual(
      t.embed.chain?.map((s) => s.task),
      ["ok"],
    );
    assert.equal(t.embed.chord, null);
    assert.equal(t.warnings?.length, 5);
    assert.equal(decodeTask(msg(), ["json"]).warnings, undefined);
  });

  it("own __proto__ keys stay plain keys: no prototype is replaced or polluted", () => {
    const m = { ...msg(), body: Buffer.from('[[1], {"__proto__": {"polluted": 1}}, {"__proto__": {"callbacks": [{"task": "evil"}]}}]') };
    const t = decodeTask(m, ["json"]);
    assert.equal(Object.getPrototypeOf(t.embed), Object.prototype);
    assert.equal(t.embed.callbacks, null);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("a message the broker could not read says why", () => {
    assert.throws(() => decodeTask({ ...msg(), unreadable: "message envelope is not JSON: x" }, ["json"]), /envelope is not JSON/);
  });

  it("logSafe escapes control characters so an id cannot forge log lines, and cuts huge ones", () => {
    assert.equal(logSafe("abc-123"), "abc-123");
    assert.equal(logSafe("a\nb\r\u001b[31m\u2028"), "a\\nb\\r\\u001b[31m\\u2028");
    assert.equal(logSafe("x".repeat(1000)).length, 201);
    assert.equal(logSafe(12), "12");
  });
});
