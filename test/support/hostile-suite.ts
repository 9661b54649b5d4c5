// The hostile-message conformance suite: every broker runs it (test/integration/
// hostile-<broker>.test.ts calls hostileMessages). Malformed and hostile
// messages are written straight into the queue with the broker's raw
// primitive, interleaved with good tasks, against a real worker. The worker
// must stay up, reject each bad one with a logged reason (FAILURE stored when it
// has an id), run each good one exactly once, and keep its memory bounded.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Transform } from "node:stream";
import { constants as zlibConstants, createBrotliCompress, createDeflate } from "node:zlib";
import type { ResultBackend } from "../../src/backends/backend.js";
import { encodeTask, toEnvelope, type Message, type TaskCall } from "../../src/protocol/message.js";
import { startWorker } from "./processes.js";
import { waitUntil } from "./wait.js";

/** A message as the suite writes it: an envelope text (brokers that have one), or a Message. */
export type RawMessage = { envelope: string; message?: undefined } | { message: Message; envelope?: undefined };

export interface HostileWorker {
  pid: number;
  /** Whether the worker process is still running (and is the one started). */
  alive(): boolean;
  /** Everything it logged so far. */
  output(): string;
  /** Its resident memory now (bytes). */
  rss(): number;
  stop(): Promise<void>;
}

export interface HostileTarget {
  /** Whether messages are text envelopes (redis, sqlite): envelope-level cases run only there. */
  envelopes: boolean;
  /** Writes a message straight into the queue, bypassing Celeriac's producer. */
  publishRaw(queue: string, raw: RawMessage): Promise<void>;
  /** Starts a worker on `queue` with the app test/fixtures/hostile-app.ts, env as given. */
  startWorker(queue: string, env: Record<string, string>): Promise<HostileWorker>;
  /** The worker's result backend, connected. */
  results(): Promise<ResultBackend>;
  /** Resolves when nothing of `queue` is left queued or leased (so nothing can be delivered again). */
  drained(queue: string): Promise<boolean>;
  close?(): Promise<void>;
}

export interface HostileOptions {
  /** Known failures, by case name: the reason (the case is then marked todo). */
  todo?: Record<string, string>;
}

/** The limit the suite's workers run with: small, so oversized bodies stay cheap to make. */
export const SIZE_LIMIT = 1024 * 1024;

type Expect =
  /** Not run; FAILURE (or `state`) stored under `id`; `reason` logged. */
  | { kind: "refused"; id?: string; reason: RegExp; state?: string; excType?: string }
  /** Run exactly once (recorded under `tag`), SUCCESS stored under `id`; `reason`, if given, logged. */
  | { kind: "runs"; id: string; tag: string; reason?: RegExp };

interface HostileCase {
  name: string;
  raw: RawMessage;
  expect: Expect;
  /** Only on brokers with text envelopes. */
  envelopeOnly?: boolean;
  /** Fills in what takes a while to make (the compression bombs), before the case is published. */
  prepare?: () => Promise<void>;
  /** Its id tries to forge this log line: it must not appear. */
  forges?: RegExp;
}

const RECORD = "hostile.record";

function good(tag: string, call: Partial<TaskCall> = {}): Message {
  return encodeTask({ task: RECORD, args: [tag], ...call });
}

/** A Message whose body is the given bytes and whose headers are `headers` (JSON text keeps own "__proto__" keys). */
function withBody(base: Message, body: Buffer | string, patch: { contentType?: string; headers?: Record<string, unknown> } = {}): Message {
  return {
    ...base,
    body: typeof body === "string" ? Buffer.from(body) : body,
    contentType: patch.contentType ?? base.contentType,
    headers: patch.headers ?? base.headers,
  };
}

function envelopeOf(m: Message): string {
  return toEnvelope(m, { delivery_info: { exchange: "", routing_key: "hostile" }, delivery_tag: randomUUID() });
}

let bombs: Promise<{ zlib: Buffer; brotli: Buffer }> | null = null;
/**
 * 300 MB of spaces, compressed (about 300 KB zlib, 60 KB brotli): made once
 * per process, a megabyte at a time, so the test process itself stays small.
 */
function compressionBombs(): Promise<{ zlib: Buffer; brotli: Buffer }> {
  const squeeze = async (stream: Transform): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    const done = new Promise((resolve, reject) => stream.on("end", resolve).on("error", reject));
    const mb = Buffer.alloc(1024 * 1024, 0x20);
    for (let i = 0; i < 300; i++) if (!stream.write(mb)) await new Promise((r) => stream.once("drain", r));
    stream.end();
    await done;
    return Buffer.concat(chunks);
  };
  bombs ??= (async () => ({
    zlib: await squeeze(createDeflate({ level: 9 })),
    brotli: await squeeze(createBrotliCompress({ params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 1 } })),
  }))();
  return bombs;
}

/** 300 MB of spaces as Python's bz2.compress writes them (242 bytes): made by Python, once per process. */
let bz2Bomb: Promise<Buffer> | null = null;
function bzip2Bomb(): Promise<Buffer> {
  bz2Bomb ??= new Promise((resolve, reject) =>
    execFile(
      "/usr/bin/python3",
      ["-c", "import bz2, sys; sys.stdout.buffer.write(bz2.compress(b' ' * 300 * 2**20, 9))"],
      { encoding: "buffer", maxBuffer: 1 << 20 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    ),
  );
  return bz2Bomb;
}

/**
 * A zstd frame of RLE blocks (RFC 8878 §3.1.1.2: 4 bytes make 128 KiB),
 * 300 MB in all; with `statedSize`, its header claims that content size
 * instead of stating none.
 */
function zstdRleBomb(statedSize?: number): Buffer {
  const blocks = 2400;
  const header = statedSize === undefined ? Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]) : Buffer.alloc(13);
  if (statedSize !== undefined) {
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0]).copy(header); // 8-byte content size, single segment
    header.writeBigUInt64LE(BigInt(statedSize), 5);
  }
  const body = Buffer.alloc(blocks * 4);
  for (let i = 0; i < blocks; i++) {
    body.writeUIntLE(((128 * 1024) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0), i * 4, 3);
    body[i * 4 + 3] = 0x20;
  }
  return Buffer.concat([header, body]);
}

function hostileCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  const refused = (name: string, message: Message, reason: RegExp, extra: Partial<Extract<Expect, { kind: "refused" }>> = {}) =>
    cases.push({ name, raw: { message }, expect: { kind: "refused", id: message.headers.id as string, reason, ...extra } });
  const noId = (name: string, message: Message, reason: RegExp) => cases.push({ name, raw: { message }, expect: { kind: "refused", reason } });
  const runs = (name: string, make: (tag: string) => Message, reason?: RegExp) => {
    const tag = `runs-${randomUUID().slice(0, 8)}`;
    const message = make(tag);
    cases.push({ name, raw: { message }, expect: { kind: "runs", id: message.headers.id as string, tag, reason } });
  };
  const envelope = (name: string, text: string, reason: RegExp, id?: string) =>
    cases.push({ name, raw: { envelope: text }, envelopeOnly: true, expect: { kind: "refused", id, reason } });

  // ---- envelopes (redis, sqlite) ----
  envelope("envelope: invalid JSON", `{"body": "W1tdLHt9LHt9XQ==", "headers": {"id": "x`, /envelope is not JSON/);
  envelope("envelope: JSON but not an object", `[1, 2, 3]`, /envelope has no body/);
  envelope("envelope: no body", `{"headers": {"task": "${RECORD}"}, "properties": {}}`, /envelope has no body/);
  // Broken in the middle, with a well-formed tag at its end: the Redis fetch script leases it by that tag.
  envelope(
    "envelope: unparseable, with a delivery tag at its end",
    `{"body": "W1tdLHt9LHt9XQ==", "headers": {"task": "${RECORD}" "id": 1}, "properties": {"delivery_tag": "${randomUUID()}"}}`,
    /envelope is not JSON/,
  );
  {
    const m = good("x");
    const id = m.headers.id as string;
    const env = JSON.parse(envelopeOf(m)) as Record<string, unknown>;
    env.body = "!!! not base64 @@@";
    envelope("envelope: body not base64", JSON.stringify(env), /cannot decode application\/json body/, id);
  }
  {
    const tag = `runs-${randomUUID().slice(0, 8)}`;
    const m = good(tag);
    // A delivery tag with escapes: the raw text and the parsed value differ.
    const text = toEnvelope(m, { delivery_info: { exchange: "", routing_key: "hostile" }, delivery_tag: `tag"with\\escapes\n${randomUUID()}` });
    cases.push({
      name: "envelope: delivery tag with escaped characters",
      raw: { envelope: text },
      envelopeOnly: true,
      expect: { kind: "runs", id: m.headers.id as string, tag },
    });
  }
  {
    const m = good("x");
    const env = JSON.parse(envelopeOf(m)) as Record<string, unknown>;
    env.headers = [1, 2];
    envelope("envelope: headers an array", JSON.stringify(env), /no task name/);
  }

  // ---- bodies ----
  const base = () => good("unused");
  {
    const m = base();
    refused("body: invalid JSON", withBody(m, `[["x"], {}, {`), /cannot decode application\/json body/);
  }
  {
    const m = base();
    refused("body: not [args, kwargs, embed]", withBody(m, `{"a": 1}`), /not \[args, kwargs, embed\]/);
  }
  {
    const m = base();
    refused("body: args not a list", withBody(m, `[{"a": 1}, {}, {}]`), /args are not an array/);
  }
  {
    const m = base();
    refused("body: kwargs not an object", withBody(m, `[[], [1, 2], {}]`), /kwargs are not an object/);
  }
  {
    const m = base();
    refused("body: empty", withBody(m, ""), /cannot decode application\/json body/);
  }
  {
    const m = base();
    refused("content type: unknown", withBody(m, m.body, { contentType: "application/x-unknown" }), /unknown content type/, { excType: "ContentDisallowed" });
  }
  {
    const m = base();
    refused(
      "content type: pickle",
      withBody(m, Buffer.from([0x80, 0x04, 0x95, 0x00]), { contentType: "application/x-python-serialize" }),
      /application\/x-python-serialize/,
      { excType: "ContentDisallowed" },
    );
  }
  {
    const m = base();
    refused(
      "content type: msgpack, not accepted",
      withBody(m, Buffer.from([0x93, 0x90, 0x80, 0x80]), { contentType: "application/x-msgpack" }),
      /not in acceptContent/,
      { excType: "ContentDisallowed" },
    );
  }
  {
    const m = base();
    refused("size: body over the limit", withBody(m, `[["${"x".repeat(SIZE_LIMIT + 10)}"], {}, {}]`), /over the message size limit/, {
      excType: "MessageTooLarge",
    });
  }
  {
    const m = base();
    const bomb = withBody(m, "", { headers: { ...m.headers, compression: "application/x-gzip" } });
    refused("size: zlib bomb (300 KB to 300 MB)", bomb, /inflates to more than the message size limit/, { excType: "MessageTooLarge" });
    cases.at(-1)!.prepare = async () => void (bomb.body = (await compressionBombs()).zlib);
  }
  {
    const m = base();
    const bomb = withBody(m, "", { headers: { ...m.headers, compression: "application/x-brotli" } });
    refused("size: brotli bomb (to 300 MB)", bomb, /inflates to more than the message size limit/, { excType: "MessageTooLarge" });
    cases.at(-1)!.prepare = async () => void (bomb.body = (await compressionBombs()).brotli);
  }
  {
    const m = base();
    const bomb = withBody(m, "", { headers: { ...m.headers, compression: "application/x-bz2" } });
    refused("size: bzip2 bomb (242 bytes to 300 MB)", bomb, /inflates to more than the message size limit/, { excType: "MessageTooLarge" });
    cases.at(-1)!.prepare = async () => void (bomb.body = await bzip2Bomb());
  }
  {
    const m = base();
    const bomb = withBody(m, zstdRleBomb(), { headers: { ...m.headers, compression: "application/zstd" } });
    refused("size: zstd bomb, no content size (10 KB to 300 MB)", bomb, /inflates to more than the message size limit/, { excType: "MessageTooLarge" });
  }
  {
    const m = base();
    const bomb = withBody(m, zstdRleBomb(2 ** 31), { headers: { ...m.headers, compression: "application/zstd" } });
    refused("size: zstd frame stating 2 GiB", bomb, /states a frame of 2147483648 bytes, over the message size limit/, { excType: "MessageTooLarge" });
  }
  {
    const m = base();
    refused("compression: unknown", withBody(m, m.body, { headers: { ...m.headers, compression: "application/x-snappy" } }), /unknown compression/);
  }
  {
    const m = base();
    refused(
      "compression: not xz",
      withBody(m, m.body, { headers: { ...m.headers, compression: "application/x-lzma" } }),
      /cannot decompress application\/x-lzma body: File format not recognized/,
    );
  }
  {
    const m = base();
    refused("compression: not bzip2", withBody(m, m.body, { headers: { ...m.headers, compression: "bzip2" } }), /cannot decompress application\/x-bz2/);
  }
  {
    const m = base();
    refused("compression: not zstd", withBody(m, m.body, { headers: { ...m.headers, compression: "application/zstd" } }), /not a zstd frame/);
  }
  {
    const m = base();
    refused("compression: body not compressed", withBody(m, m.body, { headers: { ...m.headers, compression: "application/x-gzip" } }), /cannot decompress/);
  }
  runs("body: 6,000 levels deep", (tag) => withBody(good(tag), `[["${tag}", ${"[".repeat(6000)}0${"]".repeat(6000)}], {}, {}]`));

  // ---- headers and ids ----
  {
    const m = base();
    noId("headers: none", withBody(m, m.body, { headers: {} }), /no task name/);
  }
  {
    const m = base();
    const h = { ...m.headers };
    delete h.id;
    noId("id: missing", withBody(m, m.body, { headers: h }), /no task id/);
  }
  {
    const m = base();
    noId("id: empty", withBody(m, m.body, { headers: { ...m.headers, id: "" } }), /no task id/);
  }
  {
    const m = base();
    noId("id: a number", withBody(m, m.body, { headers: { ...m.headers, id: 12345 } }), /no task id/);
  }
  {
    const m = base();
    noId("task name: not a string", withBody(m, m.body, { headers: { ...m.headers, task: ["x"] } }), /no task name/);
  }
  {
    const m = encodeTask({ task: "hostile.nobody-registered-this", id: `unknown-${randomUUID()}` });
    refused("task: unknown", m, /unregistered task/, { excType: "TaskNotRegistered" });
  }
  {
    // A forged log line in the id of a refused message: printed escaped.
    const id = `forge-${randomUUID()}\n[2020-01-01 00:00:00,000: ERROR/MainProcess] forged line`;
    const m = encodeTask({ task: "hostile.nobody-registered-this", id });
    refused("id: newline, refused message", m, /forge-[0-9a-f-]+\\n\[2020/, { excType: "TaskNotRegistered" });
    cases.at(-1)!.forges = /^\[2020-01-01 00:00:00,000: ERROR\/MainProcess\] forged line/m;
  }
  runs("id: newline, good message", (tag) => good(tag, { id: `nl-${randomUUID()}\r\n[2020-01-01 00:00:00,000: ERROR/MainProcess] forged too` }));
  cases.at(-1)!.forges = /^\[2020-01-01 00:00:00,000: ERROR\/MainProcess\] forged too/m;
  runs("id: 10,000 characters", (tag) => good(tag, { id: `long-${randomUUID()}-${"z".repeat(10_000)}` }));

  // ---- eta, expires, time limits ----
  {
    const m = base();
    refused("eta: not a date", withBody(m, m.body, { headers: { ...m.headers, eta: "not-a-date" } }), /invalid eta/);
  }
  {
    const m = base();
    refused("eta: a number", withBody(m, m.body, { headers: { ...m.headers, eta: 1234567890 } }), /invalid eta/);
  }
  {
    const m = base();
    refused("expires: not a date", withBody(m, m.body, { headers: { ...m.headers, expires: "yesterday" } }), /invalid expires/);
  }
  {
    const m = good("never", { expires: new Date(Date.now() - 60_000) });
    refused("expires: in the past", m, /expired at/, { state: "REVOKED" });
  }
  runs(
    "timelimit: not a list",
    (tag) => {
      const m = good(tag);
      return withBody(m, m.body, { headers: { ...m.headers, timelimit: "abc" } });
    },
    /timelimit "abc" is not \[hard, soft\]/,
  );
  runs(
    "timelimit: negative and a string",
    (tag) => {
      const m = good(tag);
      return withBody(m, m.body, { headers: { ...m.headers, timelimit: [-5, "x"] } });
    },
    /time limit -5 is not a positive number/,
  );
  // On AMQP an AMQP timestamp far out of range (amqplib reads {"!": "timestamp"} as one); elsewhere just an odd header.
  runs("headers: a timestamp out of range", (tag) => {
    const m = good(tag);
    return withBody(m, m.body, { headers: { ...m.headers, "x-stamp": { "!": "timestamp", value: 1e17 } } });
  });
  runs("retries: not a number", (tag) => {
    const m = good(tag);
    return withBody(m, m.body, { headers: { ...m.headers, retries: "many", group_index: "x", root_id: 5, parent_id: {} } });
  });

  // ---- embed ----
  runs("embed: callbacks not a list", (tag) => withBody(good(tag), `[["${tag}"], {}, {"callbacks": "x", "errbacks": 7}]`), /embed callbacks is not a list/);
  runs(
    "embed: chain with garbage entries",
    (tag) => withBody(good(tag), `[["${tag}"], {}, {"chain": [42, null, {"no": "task"}]}]`),
    /embed chain has entries that are not signatures/,
  );
  runs("embed: chord not a signature", (tag) => withBody(good(tag), `[["${tag}"], {}, {"chord": "nope"}]`), /embed chord is not a signature/);
  runs("embed: not an object", (tag) => withBody(good(tag), `[["${tag}"], {}, 5]`), /embed is not an object/);

  // ---- prototype pollution ----
  runs("__proto__: in kwargs", (tag) =>
    withBody(good(tag), `[["${tag}"], {"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}, {}]`),
  );
  runs("__proto__: in embed", (tag) =>
    withBody(good(tag), `[["${tag}"], {}, {"__proto__": {"callbacks": [{"task": "hostile.polluted"}], "polluted": "yes"}}]`),
  );
  runs("__proto__: in headers", (tag) => {
    const m = good(tag);
    const headers = JSON.parse(`{"__proto__": {"isAdmin": true, "task": "hostile.polluted"}, ${JSON.stringify(m.headers).slice(1)}`) as Record<string, unknown>;
    return withBody(m, m.body, { headers });
  });
  return cases;
}

function runsRecorded(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string);
}

export function hostileMessages(name: string, target: HostileTarget, opts: HostileOptions = {}): void {
  describe(`hostile messages: ${name}`, () => {
    const queue = `hostile-${randomUUID().slice(0, 8)}`;
    const runsFile = join(mkdtempSync(join(tmpdir(), "hostile-")), "runs");
    const cases = hostileCases().filter((c) => target.envelopes || !c.envelopeOnly);
    const goodTags = cases.map((_, i) => `good-${i}-${randomUUID().slice(0, 8)}`);
    const goods = goodTags.map((tag) => good(tag));
    let worker: HostileWorker;
    let results: ResultBackend;
    let rssBefore = 0;

    before(async () => {
      for (const c of cases) await c.prepare?.();
      worker = await target.startWorker(queue, {
        HOSTILE_RUNS_FILE: runsFile,
        CELERIAC_WORKER_MESSAGE_SIZE_LIMIT: String(SIZE_LIMIT),
        CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ visibilityTimeout: 2 }),
      });
      results = await target.results();
      rssBefore = worker.rss();
      for (let i = 0; i < cases.length; i++) {
        await target.publishRaw(queue, target.envelopes ? { envelope: envelopeOf(goods[i]!) } : { message: goods[i]! });
        const raw = cases[i]!.raw;
        await target.publishRaw(queue, raw.envelope !== undefined || !target.envelopes ? raw : { envelope: envelopeOf(raw.message) });
      }
      // Everything settled: each good task recorded, nothing left queued or leased (so nothing can come again).
      await waitUntil(
        () => `every good task to run (ran ${runsRecorded(runsFile).length}); output:\n${worker.output().slice(-3000)}`,
        () => goodTags.every((t) => runsRecorded(runsFile).includes(t)),
        40_000,
      );
      await waitUntil("the queue to be empty, nothing leased", () => target.drained(queue), 20_000, 100);
    });
    after(async () => {
      await worker?.stop();
      await target.close?.();
    });

    it("the worker stayed up and still answers", async () => {
      assert.ok(worker.alive(), `worker ${worker.pid} died; output:\n${worker.output().slice(-3000)}`);
      const probe = encodeTask({ task: "hostile.polluted" });
      await target.publishRaw(queue, target.envelopes ? { envelope: envelopeOf(probe) } : { message: probe });
      const meta = await results.waitFor(probe.headers.id as string, { timeoutMs: 10_000 }).catch((err: Error) => {
        throw new Error(`${err.message}; worker alive: ${worker.alive()}; output:\n${worker.output().slice(-4000)}`);
      });
      assert.equal(meta.status, "SUCCESS");
      assert.deepEqual(meta.result, [], "Object.prototype was not polluted in the worker");
    });

    it("every good task ran exactly once", () => {
      const ran = runsRecorded(runsFile);
      for (const t of goodTags) assert.equal(ran.filter((r) => r === t).length, 1, `good task ${t} ran ${ran.filter((r) => r === t).length} times`);
    });

    it("memory stayed bounded (compression bombs included)", () => {
      const rss = worker.rss();
      assert.ok(rss < 300 * 1024 * 1024, `worker RSS ${Math.round(rss / 1048576)} MB (was ${Math.round(rssBefore / 1048576)} MB before)`);
    });

    for (const c of cases) {
      it(c.name, { todo: opts.todo?.[c.name] }, async () => {
        const e = c.expect;
        const out = worker.output();
        if (e.kind === "refused") {
          assert.match(out, e.reason, `the reason is logged`);
          if (e.id) {
            const meta = await results.waitFor(e.id, { timeoutMs: 5000 });
            assert.equal(meta.status, e.state ?? "FAILURE");
            if (e.excType) assert.equal((meta.result as { exc_type?: string }).exc_type, e.excType);
          }
          if (c.forges) assert.doesNotMatch(out, c.forges, "no forged log line");
          return;
        }
        // The result first: with early acks the queue is drained while the last
        // task may still be running, and its result is stored after it records the run.
        const meta = await results.waitFor(e.id, { timeoutMs: 5000 });
        const ran = runsRecorded(runsFile).filter((r) => r === e.tag).length;
        assert.equal(ran, 1, `ran ${ran} times`);
        assert.equal(meta.status, "SUCCESS");
        assert.equal(meta.result, e.tag);
        if (e.reason) assert.match(out, e.reason, "the warning is logged");
        if (c.forges) assert.doesNotMatch(out, c.forges, "no forged log line");
      });
    }
  });
}

/** Resident memory of a process (bytes), from /proc. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A real worker process (`celeriac worker`) running the hostile app, for the brokers other than memory. */
export async function spawnHostileWorker(pool: "async" | "process", queue: string, env: Record<string, string>): Promise<HostileWorker> {
  const p = await startWorker("test/fixtures/hostile-app.ts", ["-P", pool, "-c", "4", "-Q", queue, "-n", `hostile-${pool}@%h`], env);
  return {
    pid: p.pid,
    alive: () => p.proc.exitCode === null && p.proc.signalCode === null,
    output: () => p.output(),
    rss: () => rssOf(p.pid),
    stop: async () => void (await p.stop()),
  };
}
