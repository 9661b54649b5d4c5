// Interop under kombu's global_keyprefix, with a real Python Celery 5.2.6
// worker and producer:
// - on one Redis server: both directions, every key of the broker under the
//   prefix on both sides (the same wire layout);
// - on a Redis Cluster started here (three masters): kombu's Redis transport
//   is not cluster-aware, so the Python worker is pointed at the master that
//   holds the prefix's hash slot, where every key of the broker lives; it
//   shares one queue with a Celeriac worker on redis+cluster://, and the two
//   restore each other's unacked messages. Results go to a plain Redis:
//   Celery 5.2's result backend has no key prefix, so its keys would fall in
//   every slot (docs/high-availability.md).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac } from "../../src/index.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import { pythonCeleryAvailable, runPython, startPythonWorker, type PythonWorker } from "../support/python.js";
import { rawClient, redisAvailable, redisUrl } from "../support/redis.js";
import { CLUSTER_PREFIX, startRedisCluster, type OwnCluster } from "../support/redis-cluster.js";

const DB = 4;
// kombu 5.2.4 WATCHes its unacked key without the prefix when it restores a message:
// on a cluster that key must be in the slot too, so its name carries the hash tag.
const UNACKED_KEY = `${CLUSTER_PREFIX}unacked`;
const available = (await redisAvailable()) && (await pythonCeleryAvailable());
// Started at the top: the servers it starts are stopped when the file ends.
const cluster: OwnCluster | null = available ? await startRedisCluster(6540, { masters: 3 }) : null;

interface PyOutcome {
  id: string;
  state: string;
  result?: unknown;
}

describe("interop with Python Celery 5.2.6 under global_keyprefix, one Redis server", { skip: !available }, () => {
  const run = randomUUID().slice(0, 8);
  const prefix = `celeriac-pfx-${run}:`;
  const tsQueue = `pfx-ts-${run}`;
  const pyQueue = `pfx-py-${run}`;
  const url = redisUrl(DB);
  let app: Celeriac;
  let tsWorker: RunningProcess;
  let pyWorker: PythonWorker;
  const pyEnv = { INTEROP_REDIS_URL: url, INTEROP_PY_QUEUE: pyQueue, INTEROP_GLOBAL_KEYPREFIX: prefix };

  before(async () => {
    app = new Celeriac({ name: "prefix-producer", broker: url, backend: url, brokerTransportOptions: { globalKeyprefix: prefix } });
    [tsWorker, pyWorker] = await Promise.all([
      startWorker("test/fixtures/interop-app.ts", ["-P", "async", "-c", "2", "-Q", tsQueue], {
        CELERIAC_BROKER_URL: url,
        CELERIAC_RESULT_BACKEND: url,
        CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ global_keyprefix: prefix }),
      }),
      startPythonWorker(pyEnv, ["-Q", pyQueue]),
    ]);
  });
  after(async () => {
    await Promise.all([tsWorker?.stop(), pyWorker?.stop()]);
    await app?.close();
  });

  it("Celeriac producer → Python worker, and Python producer → Celeriac worker, keys under the prefix", { timeout: 60_000 }, async () => {
    assert.equal(await app.sendTask<number>("py.add", [40, 2], {}, { queue: pyQueue }).get({ timeout: 30_000 }), 42);
    const [py] = await runPython<PyOutcome[]>(
      "produce.py",
      [JSON.stringify([{ name: "ts.add", args: [40, 1], options: { queue: tsQueue }, wait: 30 }])],
      pyEnv,
    );
    assert.equal(py!.state, "SUCCESS");
    assert.equal(py!.result, 41);
    const raw = rawClient(DB);
    try {
      // Both sides bound their queues in kombu's table, under the prefix only.
      assert.equal(await raw.exists(`${prefix}_kombu.binding.${tsQueue}`, `${prefix}_kombu.binding.${pyQueue}`), 2);
      assert.equal(await raw.exists(`_kombu.binding.${tsQueue}`, `_kombu.binding.${pyQueue}`), 0);
    } finally {
      raw.disconnect();
    }
  });
});

describe("interop with Python Celery 5.2.6 on a Redis Cluster: one queue, both workers", { skip: !cluster }, () => {
  const run = randomUUID().slice(0, 8);
  const queue = `cluster-shared-${run}`;
  const results = redisUrl(DB);
  const options = { globalKeyprefix: CLUSTER_PREFIX, unackedKey: UNACKED_KEY };
  let masterUrl = "";
  let app: Celeriac;
  let tsWorker: RunningProcess;
  let pyWorker: PythonWorker;
  const tsEnv = (more: Record<string, unknown> = {}) => ({
    CELERIAC_BROKER_URL: cluster!.url(),
    CELERIAC_RESULT_BACKEND: results,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ ...options, ...more }),
  });
  const pyEnv = () => ({
    INTEROP_REDIS_URL: results,
    INTEROP_BROKER_URL: masterUrl,
    INTEROP_PY_QUEUE: queue,
    INTEROP_GLOBAL_KEYPREFIX: CLUSTER_PREFIX,
    INTEROP_UNACKED_KEY: UNACKED_KEY,
  });

  before(async () => {
    masterUrl = await cluster!.masterUrlFor(CLUSTER_PREFIX);
    app = new Celeriac({ name: "cluster-producer", broker: cluster!.url(), backend: results, brokerTransportOptions: options });
    [tsWorker, pyWorker] = await Promise.all([
      startWorker("test/fixtures/interop-app.ts", ["-P", "async", "-c", "1", "--prefetch-multiplier", "1", "-Q", queue], tsEnv()),
      startPythonWorker(pyEnv(), ["-Q", queue]),
    ]);
  });
  after(async () => {
    await Promise.all([tsWorker?.stop(), pyWorker?.stop()]);
    await app?.close();
  });

  it("tasks sent through the cluster are run by the Python and the Celeriac worker alike", { timeout: 60_000 }, async () => {
    const sent = Array.from({ length: 20 }, () => app.sendTask<string>("shared.who", [100], {}, { queue }));
    const ran = await Promise.all(sent.map((r) => r.get({ timeout: 30_000 })));
    const by = (who: string) => ran.filter((w) => w === who).length;
    assert.equal(by("python") + by("celeriac"), 20);
    assert.ok(by("python") > 0 && by("celeriac") > 0, `both workers took tasks: python ${by("python")}, celeriac ${by("celeriac")}`);
    assert.doesNotMatch(pyWorker.output(), /MOVED|CROSSSLOT|Traceback/, "the Python worker met no slot it does not serve");
  });

  it("a Python producer pointed at the slot's master sends into the cluster's queue", { timeout: 60_000 }, async () => {
    const calls = Array.from({ length: 4 }, () => ({ name: "shared.who", args: [0], options: { queue }, wait: 30 }));
    const outcomes = await runPython<PyOutcome[]>("produce.py", [JSON.stringify(calls)], pyEnv());
    assert.deepEqual(
      outcomes.map((o) => o.state),
      ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"],
    );
    for (const o of outcomes) assert.ok(o.result === "python" || o.result === "celeriac");
  });

  it("kombu's unacked entries on the cluster: kombu restores one, Celeriac the other once its lease runs out", { timeout: 60_000 }, async () => {
    const queue2 = `cluster-restore-${run}`;
    const sent = [0, 1].map(() => app.sendTask<string>("shared.who", [0], {}, { queue: queue2 }));
    await Promise.all(sent.map((r) => r.sent));
    // Each takes one message with ack emulation (kombu's unacked hash and index, in the slot) and dies.
    const first = await runPython<{ id: string; tag: string }>("restore.py", ["take-and-die", queue2], pyEnv());
    await runPython("restore.py", ["take-and-die", queue2], pyEnv());
    // kombu's restore_by_tag: its WATCH of the unacked key must stay in the slot.
    await runPython("restore.py", ["restore", first.tag], pyEnv());
    const worker = await startWorker("test/fixtures/interop-app.ts", ["-P", "async", "-c", "2", "-Q", queue2], tsEnv({ visibilityTimeout: 1 }));
    try {
      assert.deepEqual(await Promise.all(sent.map((r) => r.get({ timeout: 30_000 }))), ["celeriac", "celeriac"]);
      assert.match(worker.output(), /restored 1 unacked message/);
    } finally {
      await worker.stop();
    }
  });
});
