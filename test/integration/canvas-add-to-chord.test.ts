// Task.addToChord (Celery's self.add_to_chord): chord header tasks that add
// tasks, and a chord, to the chord they are in; the callback waits for them
// and gets their results. Celery's own cases (t/integration/test_canvas.py:
// add_to_all_to_chord, add_chord_to_chord) on every backend that carries
// chords, with an in-process worker.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Celeriac, RemoteTaskError, Worker, chord, group } from "../../src/index.js";
import { defineAddToChordTasks } from "../fixtures/add-to-chord-app.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const T = { timeout: 15_000 };
const dir = mkdtempSync(join(tmpdir(), "celeriac-add-to-chord-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const redisUp = await redisAvailable();

const pairs: { name: string; broker: string; backend: string; skip?: boolean }[] = [
  { name: "memory", broker: `memory://add-to-chord-${randomUUID()}`, backend: `memory://add-to-chord-${randomUUID()}` },
  { name: "sqlite", broker: `sqlite://${join(dir, "add-to-chord.db")}`, backend: `sqlite://${join(dir, "add-to-chord.db")}` },
  { name: "redis", broker: redisUrl(7), backend: redisUrl(7), skip: !redisUp },
];

for (const pair of pairs) {
  describe(`Task.addToChord on ${pair.name}`, { skip: pair.skip }, () => {
    let app: Celeriac;
    let t: ReturnType<typeof defineCanvasTasks>;
    let a: ReturnType<typeof defineAddToChordTasks>;
    let worker: Worker;
    const queue = `add-to-chord-${randomUUID().slice(0, 8)}`;

    before(async () => {
      app = new Celeriac({ name: `add-to-chord-${pair.name}`, broker: pair.broker, backend: pair.backend, taskDefaultQueue: queue });
      t = defineCanvasTasks(app);
      a = defineAddToChordTasks(app, t);
      worker = new Worker(app, { pool: "async", concurrency: 8 });
      await worker.start();
    });
    after(async () => {
      await worker.stop();
      await app.close();
    });

    it("tasks added to the chord: the callback gets their results too (0 + 5 + 6 + 7)", async () => {
      assert.equal(
        await chord([a.addToAll.s([1, 2, 3], 4)], t.tsum.s())
          .applyAsync()
          .get(T),
        18,
      );
      const values = (await chord([a.addToAll.s([1, 2], 10), t.add.s(100, 0)], t.identity.s())
        .applyAsync()
        .get(T)) as number[];
      assert.deepEqual(
        [...values].sort((x, y) => x - y),
        [0, 11, 12, 100],
      );
      assert.equal(values.at(-1), 100, "in group order: the added results sit at their adder's index");
    });

    it("a chord added to the chord: its callback's result is one part (0 + (5 + 6 + 7))", async () => {
      assert.equal(
        await chord([a.addChord.s([1, 2, 3], 4)], t.tsum.s())
          .applyAsync()
          .get(T),
        18,
      );
      assert.deepEqual(
        await chord([a.addChord.s([1, 2], 1), a.addToAll.s([5], 5)], t.tsum.s())
          .applyAsync()
          .get(T),
        0 + 5 + 0 + 10,
      );
    });

    it("lazily: the prepared signature, sent by the task itself; else the added task's result handle", async () => {
      assert.equal(
        await chord([a.addLazily.s(20, 2), t.add.s(1, 1)], t.tsum.s())
          .applyAsync()
          .get(T),
        0 + 22 + 2,
      );
      const values = (await chord([a.addOne.s(3, 4)], t.identity.s())
        .applyAsync()
        .get(T)) as unknown[];
      const id = values.find((v) => typeof v === "string") as string;
      assert.ok(id, `the adder returned the added task's id: ${JSON.stringify(values)}`);
      assert.equal(await app.AsyncResult(id).get(T), 7);
      assert.ok(values.includes(7));
    });

    it("a task in no chord (alone, or in a group) fails with Celery's ValueError", async () => {
      for (const res of [a.addToAll.delay([1], 1), group(a.addToAll.s([1], 1)).applyAsync().results[0]!]) {
        await assert.rejects(res.get(T), (err: Error) => {
          assert.ok(err instanceof RemoteTaskError);
          assert.equal(err.name, "ValueError");
          assert.equal(err.message, "Current task is not member of any chord");
          return true;
        });
      }
    });
  });
}
