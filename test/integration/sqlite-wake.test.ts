// The SQLite commit signal (src/util/commit-signal.ts) between real
// processes: a worker idle in another process is woken by a publish, and a
// pending get() by the stored result, far sooner than their fallback poll
// (250 ms while the signal works); with the channel broken (its file deleted,
// and a directory in its place so it cannot be made again) the worker and the
// client fall back to their short polls and work still flows.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { startWorker } from "../support/processes.js";
import { waitUntil } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-wake-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The fallback polls while the signal works are 250 ms; a round trip that waited for one (either side) takes over 100. */
const WELL_UNDER_POLL_MS = 100;

async function medianRoundTrip(app: Celeriac, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    assert.equal(await app.sendTask<number>("fixture.add", [i, 1]).get({ timeout: 20_000 }), i + 1);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

describe("sqlite commit signal", () => {
  const db = join(dir, "wake.db");
  const url = `sqlite://${db}`;
  const wakeFile = `${db}-wake`;

  it("wakes an idle worker in another process and a pending get(), well under the fallback poll", async () => {
    const app = new Celeriac({ name: "client", broker: url, backend: url });
    const w = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "1", "-l", "warning"], {
      CELERIAC_BROKER_URL: url,
      CELERIAC_RESULT_BACKEND: url,
    });
    try {
      await medianRoundTrip(app, 3); // both sides connected and warm
      assert.ok(statSync(wakeFile).isFile(), "the channel's file is there");
      const median = await medianRoundTrip(app, 11);
      assert.ok(median < WELL_UNDER_POLL_MS, `median round trip ${median.toFixed(1)} ms, not woken`);
    } finally {
      await w.stop();
      await app.close();
    }
  });

  it("with the channel's file deleted (and unmakeable), work still flows by polling; it is set up again once it can be", async () => {
    const app = new Celeriac({ name: "client", broker: url, backend: url });
    const w = await startWorker("test/fixtures/app.ts", ["-P", "async", "-c", "1", "-l", "warning"], {
      CELERIAC_BROKER_URL: url,
      CELERIAC_RESULT_BACKEND: url,
    });
    try {
      await medianRoundTrip(app, 3);
      rmSync(wakeFile);
      mkdirSync(wakeFile); // a directory: neither side can make the file again
      // Both sides lost their watch: they poll at their short interval, not the 250 ms one.
      const median = await medianRoundTrip(app, 11);
      assert.ok(median < WELL_UNDER_POLL_MS, `median round trip ${median.toFixed(1)} ms while polling`);
      const results = Array.from({ length: 50 }, (_, i) => app.sendTask<number>("fixture.add", [i, i]));
      assert.deepEqual(
        await Promise.all(results.map((r) => r.get({ timeout: 20_000 }))),
        Array.from({ length: 50 }, (_, i) => 2 * i),
      );
      rmSync(wakeFile, { recursive: true });
      await waitUntil("the channel's file made again by a waiter", () => existsSync(wakeFile) && statSync(wakeFile).isFile(), 20_000);
      assert.equal(await app.sendTask<number>("fixture.add", [20, 22]).get({ timeout: 20_000 }), 42);
    } finally {
      await w.stop();
      await app.close();
    }
  });
});
