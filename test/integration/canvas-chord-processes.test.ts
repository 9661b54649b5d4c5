// A big chord over real worker processes sharing one SQLite file: the
// callback must run exactly once, with every result in header order.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Celeriac, chord, type GroupResult } from "../../src/index.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { startWorker, type RunningProcess } from "../support/processes.js";

const APP = fileURLToPath(new URL("../fixtures/canvas-app.ts", import.meta.url));

describe("chord over 2 worker processes (sqlite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-chord-"));
  const url = `sqlite://${join(dir, "chord.db")}`;
  const marker = join(dir, "callback-calls.txt");
  const app = new Celeriac({ name: "chord-producer", broker: url, backend: url });
  const t = defineCanvasTasks(app);
  const workers: RunningProcess[] = [];

  before(async () => {
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const started = await Promise.all([1, 2].map((n) => startWorker(APP, ["-P", "async", "-c", "8", "-n", `w${n}@%h`], env)));
    workers.push(...started);
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a chord of 1,000 header tasks completes exactly once", { timeout: 90_000 }, async () => {
    const n = 1000;
    const res = chord(Array.from({ length: n }, (_, i) => t.add.s(i, i)), t.countedSum.s(marker)).applyAsync();
    const total = await res.get({ timeout: 80_000 });
    assert.equal(total, n * (n - 1));
    const header = res.parent as GroupResult<number>;
    assert.deepEqual(await header.get({ timeout: 10_000 }), Array.from({ length: n }, (_, i) => 2 * i));
    // Give a late duplicate (if there were one) time to show up before counting.
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(readFileSync(marker, "utf8").trim().split("\n"), [String(n)], "the callback ran once, with all parts");
    for (const w of workers) assert.match(w.output(), /canvas\.add\[.*\] succeeded/, "both workers took header tasks");
  });
});
