// Interop through Redis Sentinel: a real Python Celery 5.2.6 worker and
// producer (kombu's sentinel:// transport, master_name) and Celeriac's, on
// one Sentinel set started here, both directions; then the master is killed
// with -9 and, once a replica is promoted, both directions work again with
// no process restarted.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { pythonCeleryAvailable, runPython, startPythonWorker, type PythonWorker } from "../support/python.js";
import { redisAvailable } from "../support/redis.js";
import { startSentinelSet, type SentinelSet } from "../support/sentinel.js";

const available = (await redisAvailable()) && (await pythonCeleryAvailable());
// Started at the top: the servers it starts are stopped when the file ends (an after() of a before hook would run as that hook ends).
const set: SentinelSet | null = available ? await startSentinelSet({ replicas: 1 }) : null;

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
}

describe("interop with Python Celery 5.2.6 through Redis Sentinel", { skip: !set }, () => {
  const run = randomUUID().slice(0, 8);
  const tsQueue = `sentinel-ts-${run}`;
  const pyQueue = `sentinel-py-${run}`;
  let app: Celeriac;
  let tsWorker: RunningProcess;
  let pyWorker: PythonWorker;
  const pyEnv = () => ({ INTEROP_REDIS_URL: set!.url(0), INTEROP_PY_QUEUE: pyQueue, INTEROP_MASTER_NAME: set!.transportOptions.masterName });
  const pyProduces = (x: number) =>
    runPython<PyOutcome[]>("produce.py", [JSON.stringify([{ name: "ts.add", args: [x, 1], options: { queue: tsQueue }, wait: 30 }])], pyEnv());
  const tsProduces = (x: number) => app.sendTask<number>("py.add", [x, 2], {}, { queue: pyQueue }).get({ timeout: 30_000 });

  before(async () => {
    const url = set!.url(0);
    const options = JSON.stringify(set!.transportOptions);
    app = new Celeriac({
      name: "sentinel-producer",
      broker: url,
      backend: url,
      brokerTransportOptions: set!.transportOptions,
      resultBackendTransportOptions: set!.transportOptions,
    });
    [tsWorker, pyWorker] = await Promise.all([
      startWorker("test/fixtures/interop-app.ts", ["-P", "async", "-c", "2", "-Q", tsQueue], {
        CELERIAC_BROKER_URL: url,
        CELERIAC_RESULT_BACKEND: url,
        CELERIAC_BROKER_TRANSPORT_OPTIONS: options,
        CELERIAC_RESULT_BACKEND_TRANSPORT_OPTIONS: options,
      }),
      startPythonWorker(pyEnv(), ["-Q", pyQueue]),
    ]);
  });
  after(async () => {
    await Promise.all([tsWorker?.stop(), pyWorker?.stop()]);
    await app?.close();
  });

  it("Python producer → Celeriac worker, and Celeriac producer → Python worker", { timeout: 60_000 }, async () => {
    const [py] = await pyProduces(40);
    assert.equal(py!.state, "SUCCESS");
    assert.equal(py!.result, 41);
    assert.equal(await tsProduces(40), 42);
  });

  it("after kill -9 of the master, both directions work through the promoted replica", { timeout: 90_000 }, async () => {
    const killed = await set!.killMaster();
    const promoted = await set!.promoted(killed);
    assert.notEqual(promoted, killed);
    assert.equal(await tsProduces(50), 52, "the Python worker and our producer followed");
    const [py] = await pyProduces(50);
    assert.equal(py!.state, "SUCCESS", "a Python producer started after the failover finds the new master");
    assert.equal(py!.result, 51, "the Celeriac worker followed");
    assert.match(tsWorker.output(), new RegExp(`master celeriac-ha at 127\\.0\\.0\\.1:${promoted}\\) restored`), "the worker names the master it moved to");
  });
});
