// Task progress across languages over Redis: a Celeriac task's
// this.progress() read by a real Python Celery 5.2.6 producer through
// AsyncResult.state/.info, and a Python task's self.update_state() read by
// Celeriac's AsyncResult.updates() (pub/sub on Celery's own channel). The
// Celeriac worker runs the process pool: the update crosses from its child.
// Redis and Python are required under CI=true.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { startMixedWorkers, type MixedWorkers, type PyOutcome } from "../support/mixed-workers.js";
import { followGated } from "../support/progress.js";
import { pythonCeleryAvailable } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const REDIS = redisUrl(14);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());

describe("task progress interop with Python Celery 5.2.6 over Redis", { skip: !available }, () => {
  let workers: MixedWorkers;
  let app: Celeriac;

  before(async () => {
    workers = await startMixedWorkers("progress", REDIS);
    app = new Celeriac({ name: "progress-client", broker: REDIS, backend: REDIS });
  });
  after(async () => {
    await app?.close();
    await workers?.stop();
  });

  it("Python's AsyncResult.state and .info see a Celeriac task's this.progress(), step by step", async () => {
    const out = await workers.produce<{ seen: unknown[]; final: PyOutcome }>("progress_produce.py");
    assert.deepEqual(out.seen, [
      { step: "step 1", current: 1, total: 2 },
      { step: "step 2", current: 2, total: 2 },
    ]);
    assert.deepEqual(out.final, { state: "SUCCESS", result: "done 2" });
  });

  it("Celeriac's AsyncResult.updates() and .progress see a Python task's self.update_state()", async () => {
    const r = app.sendTask<string>("canvas.pyProgress", [2], undefined, { queue: workers.pyQueue });
    assert.deepEqual(await followGated(app, r), [
      { status: "PROGRESS", result: { current: 1, total: 2 } },
      { status: "PROGRESS", result: { current: 2, total: 2 } },
      { status: "SUCCESS", result: "py done 2" },
    ]);
  });
});
