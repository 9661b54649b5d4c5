// Result `children` (Celery's request.children: the tasks a task started)
// as a real Python Celery 5.2.6 client reads them with AsyncResult.children,
// from a Celeriac worker and, for the reference, from a Python worker running
// the same workflows: a chain's next step, one and several link callbacks (a
// group), tasks and a group sent by the task itself (from a process-pool
// child), and a failed chord's errback group. Redis and Python are required
// under CI=true.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMixedWorkers, type MixedWorkers } from "../support/mixed-workers.js";
import { pythonCeleryAvailable, runPython } from "../support/python.js";
import { redisAvailable, redisUrl } from "../support/redis.js";

const REDIS = redisUrl(15);
const available = (await redisAvailable()) && (await pythonCeleryAvailable());

type Described = { result: unknown; children: Described[] } | { group: Described[] };
type Out = Record<string, Described> & { chord_errback_callback_id: string };

const leaf = (result: unknown, children: Described[] = []): Described => ({ result, children });

describe("result children read by Python Celery 5.2.6 over Redis", { skip: !available }, () => {
  let workers: MixedWorkers;
  let celeriac: Out;
  let python: Out;

  before(async () => {
    workers = await startMixedWorkers("children", REDIS);
    const env = { CANVAS_REDIS_URL: REDIS, CANVAS_QUEUE: workers.tsQueue, PY_QUEUE: workers.pyQueue };
    [celeriac, python] = await Promise.all([
      runPython<Out>("children_produce.py", ["CANVAS_QUEUE"], env),
      runPython<Out>("children_produce.py", ["PY_QUEUE"], env),
    ]);
  });
  after(async () => {
    await workers?.stop();
  });

  it("a chain step's children name the next step", () => {
    assert.deepEqual(celeriac.chain, leaf(2, [leaf(4)]));
    assert.deepEqual(celeriac.chain, python.chain);
  });

  it("one link callback is a child; several are one group", () => {
    assert.deepEqual(celeriac.one_callback, leaf(2, [leaf(12)]));
    assert.deepEqual(celeriac.two_callbacks, leaf(2, [{ group: [leaf(12), leaf(22)] }]));
    assert.deepEqual([celeriac.one_callback, celeriac.two_callbacks], [python.one_callback, python.two_callbacks]);
  });

  it("tasks and a group sent by the task itself (in a pool child) are its children, the group as one", () => {
    assert.deepEqual(celeriac.spawned, leaf(5, [leaf(6), leaf(7), { group: [leaf(8), leaf(9)] }]));
    assert.deepEqual(celeriac.spawned, python.spawned);
  });

  it("a failed chord's callback names its errbacks' group, whose errback got the callback's id", () => {
    assert.deepEqual(celeriac.chord_errback, leaf("ChordError", [{ group: [leaf({ failed: celeriac.chord_errback_callback_id })] }]));
    assert.deepEqual(python.chord_errback, leaf("ChordError", [{ group: [leaf({ failed: python.chord_errback_callback_id })] }]));
  });
});
