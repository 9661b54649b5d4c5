// Canvas interop with a real Python Celery 5.2.6 over Redis, both ways: a
// Python-started chain, chord, group and starmap run on a Celeriac worker
// (Python reads the results), a Celeriac-started one runs on a Python worker,
// and one chord's header is split between the two, whoever finishes last
// calling back. Redis and Python are required under CI=true.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Celeriac, ChordError, GroupResult, chain, chord, group, type AsyncResult } from "../../src/index.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { pythonCeleryAvailable, runPython, startPythonWorker, type PythonWorker } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const DB = 9;
const REDIS = redisUrl(DB);
const APP = fileURLToPath(new URL("../fixtures/canvas-app.ts", import.meta.url));
const available = (await redisAvailable()) && (await pythonCeleryAvailable());
const T = { timeout: 30_000 };

interface PyOutcome {
  state: string;
  result?: unknown;
  type?: string;
  module?: string;
  message?: string;
}

/** The lines of a worker's log that match, for a failure message. */
function linesOf(log: string, pattern: RegExp): string {
  return log
    .split("\n")
    .filter((l) => pattern.test(l))
    .join("\n");
}

describe("canvas interop with Python Celery 5.2.6 over Redis", { skip: !available }, () => {
  const run = randomUUID().slice(0, 8);
  const tsQueue = `canvas-ts-${run}`;
  const pyQueue = `canvas-py-${run}`;
  // The Celeriac producer sends to the Python worker's queue by default.
  const app = new Celeriac({ name: "canvas-producer", broker: REDIS, backend: REDIS, taskDefaultQueue: pyQueue });
  const t = defineCanvasTasks(app);
  let tsWorker: RunningProcess;
  let pyWorker: PythonWorker;

  before(async () => {
    [tsWorker, pyWorker] = await Promise.all([
      startWorker(APP, ["-P", "async", "-c", "4", "-Q", tsQueue], {
        CELERIAC_BROKER_URL: REDIS,
        CELERIAC_RESULT_BACKEND: REDIS,
        CELERIAC_TASK_DEFAULT_QUEUE: tsQueue,
      }),
      startPythonWorker({ CANVAS_REDIS_URL: REDIS, CANVAS_QUEUE: pyQueue }, ["-Q", pyQueue], "canvasapp"),
    ]);
  });
  after(async () => {
    if (process.env.CANVAS_INTEROP_DEBUG) console.error(`--- python worker ---\n${pyWorker?.output()}\n--- celeriac worker ---\n${tsWorker?.output()}`);
    await Promise.all([tsWorker?.stop(), pyWorker?.stop()]);
    await app.close();
  });

  describe("Python producer → Celeriac worker", () => {
    let out: Record<string, PyOutcome & Record<string, unknown>>;
    before(async () => {
      out = await runPython("canvas_produce.py", [], { CANVAS_REDIS_URL: REDIS, CANVAS_QUEUE: tsQueue });
    });

    it("a chain runs step by step; Python follows the parents", () => {
      assert.deepEqual(out.chain, { state: "SUCCESS", result: 60 });
      assert.deepEqual(out.chain_parents, [6, 3]);
    });

    it("a chord completes from the size Python recorded, and calls back once with ordered results", () => {
      assert.deepEqual(out.chord, { state: "SUCCESS", result: 90 });
    });

    it("a group inside a chain (a chord) and a chord with a chain callback", () => {
      assert.deepEqual(out.chain_group_chord, { state: "SUCCESS", result: 32 });
      assert.deepEqual(out.chord_chain_callback, { state: "SUCCESS", result: 12 });
      assert.deepEqual(out.chord_of_chains, { state: "SUCCESS", result: 12 });
    });

    it("a group Python saved is restored here, results in order", async () => {
      const saved = out.saved_group as unknown as { id: string; children: string[] };
      const g = await GroupResult.restore(app, saved.id);
      assert.deepEqual(
        g?.results.map((r) => r.id),
        saved.children,
      );
      assert.deepEqual(await g!.get(T), [1, 2, 3, 4, 5]);
    });

    it("a group, a starmap, and a group at the end of a chain", () => {
      assert.deepEqual(out.group, { state: "SUCCESS", result: [1, 2, 3, 4, 5] });
      assert.deepEqual(out.starmap, { state: "SUCCESS", result: [3, 7] });
      assert.deepEqual(out.chain_ending_in_group, { state: "SUCCESS", result: [4, 2] });
    });

    it("a failing header task: Python sees celery.exceptions.ChordError; the errback ran", () => {
      assert.equal(out.failing_chord_via_parent!.state, "FAILURE");
      assert.equal(out.failing_chord!.state, "FAILURE");
      assert.equal(out.failing_chord!.type, "ChordError");
      assert.equal(out.failing_chord!.module, "celery.exceptions");
      assert.match(String(out.failing_chord!.message), /header broke/);
      // A rare CI failure here (the errback's result not in within 30 s) is not understood yet: say what the worker did with it.
      const errbackLog = linesOf(tsWorker.output(), /onError|chord .* failed|errback/);
      assert.deepEqual(
        out.failing_chord_errback,
        { state: "SUCCESS", result: { failed: out.failing_chord_callback_id } },
        `the Celeriac worker's log of it:\n${errbackLog}`,
      );
    });

    it("the Celeriac worker did the work", () => {
      assert.match(tsWorker.output(), /canvas\.tsum\[.*\] succeeded/);
      assert.match(tsWorker.output(), /celery\.starmap\[.*\] succeeded/);
    });
  });

  describe("Celeriac producer → Python worker", () => {
    it("a chain", async () => {
      const res = chain(t.add.s(1, 2), t.add.s(3), t.mul.s(10)).applyAsync();
      assert.equal(await res.get(T), 60);
      assert.equal(await (res.parent as AsyncResult).get(T), 6);
    });

    it("a chord (Python reads the size from setChordSize)", async () => {
      const res = chord(
        Array.from({ length: 10 }, (_, i) => t.add.s(i, i)),
        t.tsum.s(),
      ).applyAsync();
      assert.equal(await res.get(T), 90);
      assert.deepEqual(
        await (res.parent as GroupResult).get(T),
        Array.from({ length: 10 }, (_, i) => 2 * i),
      );
    });

    it("a group inside a chain, and a chord with a chain callback", async () => {
      assert.equal(
        await chain(t.add.s(1, 1), group(t.double.s(), t.add.s(10)), t.tsum.s(), t.double.s())
          .applyAsync()
          .get(T),
        32,
      );
      assert.equal(
        await chord([t.add.s(1, 1), t.add.s(2, 2)], chain(t.tsum.s(), t.double.s()))
          .applyAsync()
          .get(T),
        12,
      );
      assert.equal(
        await chord([chain(t.add.s(1, 1), t.double.s()), chain(t.add.s(2, 2), t.double.s())], t.tsum.s())
          .applyAsync()
          .get(T),
        12,
      );
    });

    it("a group, a starmap and a chain ending in a group", async () => {
      assert.deepEqual(
        await group(Array.from({ length: 5 }, (_, i) => t.add.s(i, 1)))
          .applyAsync()
          .get(T),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(
        await t.add
          .starmap([
            [1, 2],
            [3, 4],
          ])
          .delay()
          .get(T),
        [3, 7],
      );
      const g = chain(t.add.s(1, 1), group(t.double.s(), t.identity.s())).applyAsync() as unknown as GroupResult;
      assert.deepEqual(await g.get(T), [4, 2]);
    });

    it("a failing header task: a ChordError for us, the errback ran on Python", async () => {
      const ebId = randomUUID();
      const c = chord([t.identity.s(1), t.fail.s("header broke")], t.tsum.s());
      c.linkError(t.onError.s().set({ taskId: ebId }));
      const res = c.applyAsync();
      await assert.rejects(res.get(T), (err: Error) => err instanceof ChordError && /header broke/.test(err.message));
      const errback = await app
        .AsyncResult(ebId)
        .get(T)
        .catch((err: Error) => {
          throw new Error(`the errback's result: ${err.message}; the Python worker's log of it:\n${linesOf(pyWorker.output(), /onError|ChordError|errback/)}`);
        });
      assert.deepEqual(errback, { failed: res.id });
    });
  });

  it("one chord, its header split between a Python and a Celeriac worker, calls back once", async () => {
    const header = Array.from({ length: 20 }, (_, i) => t.add.s(i, i).set({ queue: i % 2 ? tsQueue : pyQueue }));
    const res = chord(header, t.tsum.s().set({ queue: tsQueue })).applyAsync();
    assert.equal(await res.get(T), 380);
    const py = pyWorker.output().match(/canvas\.add\[[^\]]+\] succeeded/g)?.length ?? 0;
    assert.ok(py >= 10, "the Python worker ran its half of the header");
  });
});
