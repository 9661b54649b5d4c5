// A big chord over real worker processes sharing one store (a SQLite file;
// Redis too when it is there): the callback must run exactly once, with every
// result in header order.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Celeriac, chord, type GroupResult } from "../../src/index.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { redisAvailable, redisUrl } from "../support/redis.js";
import { waitUntil } from "../support/wait.js";

const APP = fileURLToPath(new URL("../fixtures/canvas-app.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "celeriac-chord-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const sqlite = `sqlite://${join(dir, "chord.db")}`;

function bigChord(name: string, url: string, opts: { skip?: boolean } = {}) {
  describe(`chord over 2 worker processes (${name})`, { skip: opts.skip }, () => {
    const queue = `chord-${randomUUID().slice(0, 8)}`;
    const marker = join(dir, `callback-calls-${name}.txt`);
    const app = new Celeriac({ name: "chord-producer", broker: url, backend: url, taskDefaultQueue: queue });
    const t = defineCanvasTasks(app);
    const workers: RunningProcess[] = [];

    before(async () => {
      const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url, CELERIAC_TASK_DEFAULT_QUEUE: queue };
      workers.push(...(await Promise.all([1, 2].map((n) => startWorker(APP, ["-P", "async", "-c", "8", "-n", `w${n}@%h`], env)))));
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await app.close();
    });

    it("a chord of 1,000 header tasks completes exactly once", { timeout: 90_000 }, async () => {
      const n = 1000;
      const res = chord(
        Array.from({ length: n }, (_, i) => t.add.s(i, i)),
        t.countedSum.s(marker),
      ).applyAsync();
      const total = await res.get({ timeout: 80_000 });
      assert.equal(total, n * (n - 1));
      const header = res.parent as GroupResult<number>;
      assert.deepEqual(
        await header.get({ timeout: 10_000 }),
        Array.from({ length: n }, (_, i) => 2 * i),
      );
      // Give a late duplicate (if there were one) time to show up before counting.
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(readFileSync(marker, "utf8").trim().split("\n"), [String(n)], "the callback ran once, with all parts");
      for (const w of workers) assert.match(w.output(), /canvas\.add\[.*\] succeeded/, "both workers took header tasks");
    });
  });
}

bigChord("sqlite", sqlite);
bigChord("redis", redisUrl(8), { skip: !(await redisAvailable()) });

describe("chord with a worker killed (kill -9) halfway (sqlite)", () => {
  const url = `sqlite://${join(dir, "chord-kill.db")}`;
  const queue = `chord-kill-${randomUUID().slice(0, 8)}`;
  const marker = join(dir, "callback-calls-kill.txt");
  const app = new Celeriac({ name: "chord-producer", broker: url, backend: url, taskDefaultQueue: queue });
  const t = defineCanvasTasks(app);
  const workers: RunningProcess[] = [];
  const env = {
    CELERIAC_BROKER_URL: url,
    CELERIAC_RESULT_BACKEND: url,
    CELERIAC_TASK_DEFAULT_QUEUE: queue,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout": 2}',
  };

  before(async () => {
    workers.push(...(await Promise.all([1, 2].map((n) => startWorker(APP, ["-P", "async", "-c", "4", "-n", `k${n}@%h`], env)))));
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await app.close();
  });

  it("late-ack header tasks of the dead worker come back; the callback still runs once", { timeout: 90_000 }, async () => {
    const n = 300;
    const res = chord(
      Array.from({ length: n }, (_, i) => t.slowAdd.s(i, i)),
      t.countedSum.s(marker),
    ).applyAsync();
    const victim = workers[0]!;
    const done = () => victim.output().match(/canvas\.slowAdd\[[^\]]+\] succeeded/g)?.length ?? 0;
    await waitUntil("the victim to finish 10 header tasks", () => done() >= 10, 30_000, 10);
    victim.proc.kill("SIGKILL");
    await victim.exited;
    assert.equal(await res.get({ timeout: 60_000 }), n * (n - 1));
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(readFileSync(marker, "utf8").trim().split("\n"), [String(n)], "the callback ran once, with all parts");
    const received = workers.map((w) => w.output().match(/canvas\.slowAdd\[[^\]]+\] received/g)?.length ?? 0);
    assert.ok(received[0]! + received[1]! > n, `some header tasks were delivered twice (received: ${received.join(" + ")})`);
  });
});
