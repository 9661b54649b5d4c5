// Beat as real processes: several `celeriac beat` processes on one store, a
// leader killed with SIGKILL, entries added and removed with the CLI while
// beat runs, and beat embedded in a worker (-B). Sent messages are counted in
// the broker: each tick of the 0.2 s fixture entry must be there exactly once.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, describe, test } from "node:test";
import { createBroker } from "../../src/brokers/index.js";
import { Celeriac } from "../../src/app.js";
import { CLI, ROOT, startNode, startWorker, type RunningProcess } from "../support/processes.js";
import { REDIS_TEST_URL, deleteKeys, redisAvailable } from "../support/beat-redis.js";
import { waitUntil } from "../support/wait.js";

/** Redis DB 7: the Redis-broker scenario's own database (flushed when the file ends). */
const REDIS_BROKER_URL = REDIS_TEST_URL.replace(/\/\d+$/, "/7");

const run = promisify(execFile);
const APP = "test/fixtures/beat-app.ts";
const PERIOD = 200; // the fixture's every(0.2, "seconds")
const LEASE_SECONDS = 2;

const dir = mkdtempSync(join(tmpdir(), "celeriac-beat-proc-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Setup {
  env: Record<string, string>;
  brokerUrl: string;
}

/** Where beat runs: the broker, and the store when it is not derived from the broker. */
type Deployment = "sqlite" | "sqlite broker, redis store" | "redis broker";

function setup(deployment: Deployment): Setup {
  const name = `beatproc${randomUUID().slice(0, 6)}`;
  const sqliteUrl = `sqlite://${join(dir, `${name}.db`)}`;
  const brokerUrl = deployment === "redis broker" ? REDIS_BROKER_URL : sqliteUrl;
  const env: Record<string, string> = {
    CELERIAC_BROKER_URL: brokerUrl,
    CELERIAC_RESULT_BACKEND: sqliteUrl,
    CELERIAC_BEAT_LEASE_SECONDS: String(LEASE_SECONDS),
    CELERIAC_BEAT_CATCH_UP: "all",
    BEAT_TEST_APP_NAME: name,
  };
  if (deployment === "sqlite broker, redis store") env.CELERIAC_BEAT_STORE_URL = REDIS_TEST_URL;
  return { env, brokerUrl };
}

function startBeat(s: Setup): RunningProcess {
  return startNode([CLI, "-A", APP, "beat"], s.env);
}

/** Every message waiting on a queue, taken off it: [beat_entry, beat_tick ms]. */
async function takeAll(brokerUrl: string, queue: string): Promise<{ entry: string; tick: number }[]> {
  const broker = await createBroker(brokerUrl);
  await broker.connect();
  const out: { entry: string; tick: number }[] = [];
  try {
    for (;;) {
      const got = await broker.fetch([queue], { max: 1000, waitMs: 0, lease: false });
      if (!got.length) break;
      for (const d of got) out.push({ entry: String(d.message.headers.beat_entry), tick: Date.parse(String(d.message.headers.beat_tick)) });
    }
  } finally {
    await broker.close();
  }
  return out;
}

async function queueSize(brokerUrl: string, queue: string): Promise<number> {
  const broker = await createBroker(brokerUrl);
  await broker.connect();
  try {
    return await broker.size(queue);
  } finally {
    await broker.close();
  }
}

const sentCount = (p: RunningProcess) => (p.output().match(/beat: sent fast-add/g) ?? []).length;
const isLeader = (p: RunningProcess) => /: leader \(fencing token/.test(p.output());

/** The beat that is sending now: the one whose count of sends grows. */
async function currentLeader(beats: RunningProcess[]): Promise<RunningProcess> {
  for (let tries = 0; tries < 20; tries++) {
    const before = beats.map(sentCount);
    await sleep(3 * PERIOD);
    const growing = beats.filter((b, i) => sentCount(b) > before[i]!);
    if (growing.length === 1) return growing[0]!;
  }
  throw new Error("no single beat is sending");
}

/** Each tick once, and no gap: consecutive ticks are one period apart. */
function assertEachTickOnce(ticks: number[], min: number, period = PERIOD): void {
  const sorted = [...ticks].sort((a, b) => a - b);
  const dupes = sorted.filter((t, i) => i > 0 && t === sorted[i - 1]);
  assert.deepEqual(
    dupes.map((t) => new Date(t).toISOString()),
    [],
    "ticks sent twice",
  );
  const gaps = sorted.filter((t, i) => i > 0 && t - sorted[i - 1]! !== period).map((t) => new Date(t).toISOString());
  assert.deepEqual(gaps, [], "ticks missing before these");
  assert.ok(sorted.length >= min, `only ${sorted.length} ticks`);
}

for (const deployment of ["sqlite", "sqlite broker, redis store", "redis broker"] as const) {
  describe(`beat processes: ${deployment}`, async () => {
    const usesRedis = deployment !== "sqlite";
    const hasRedis = usesRedis ? await redisAvailable() : true;
    if (usesRedis && hasRedis) {
      if (deployment === "redis broker") await deleteKeys("*", REDIS_BROKER_URL); // leftovers of an earlier run
      after(() => deleteKeys("celeriac:beat:{beatproc*"));
      after(() => deleteKeys("*", REDIS_BROKER_URL));
    }
    const skip = hasRedis ? false : `no Redis at ${REDIS_TEST_URL} (CI=true makes this a failure)`;
    // The Redis-broker deployment runs the main scenario only (time).
    const mainOnly = deployment === "redis broker";

    test(
      "three beats, one leader: 30+ ticks each sent once; the leader killed with SIGKILL, another takes over once its lease runs out; still each tick once",
      { skip },
      async () => {
        const s = setup(deployment);
        if (deployment === "redis broker") assert.equal(s.env.CELERIAC_BEAT_STORE_URL, undefined, "the store comes from the broker URL");
        const beats = [startBeat(s), startBeat(s), startBeat(s)];
        await Promise.all(beats.map((b) => b.waitFor(/ ready: /, 30_000)));
        if (deployment === "redis broker") assert.match(beats[0]!.output(), /ready: store redis:\/\/[^ ]*\/7,/);
        await waitUntil("30 ticks", () => beats.reduce((n, b) => n + sentCount(b), 0) >= 30);
        // One beat sends; the others stand by. (Under heavy load a stalled leader
        // may lose its lease to another: allowed, and the tick checks below still hold.)
        const leader = await currentLeader(beats);
        if (beats.filter(isLeader).length === 1) {
          for (const b of beats) if (b !== leader) assert.equal(sentCount(b), 0, "a standby sent");
        }

        // Kill the leader between two ticks (ticks fall on multiples of 200 ms),
        // so the kill tests the takeover, not the instant between claim and send.
        while (Date.now() % PERIOD < 80 || Date.now() % PERIOD > 120) await sleep(1);
        leader.proc.kill("SIGKILL");
        await leader.exited;
        const rest = beats.filter((b) => b !== leader);
        const sentBefore = rest.map(sentCount);
        // A standby takes over once the dead leader's lease (2 s) runs out; how soon after is up
        // to the machine's load, so only the generous timeout bounds it.
        await waitUntil("a new leader sending", () => rest.some((b, i) => sentCount(b) > sentBefore[i]!), 30_000);
        const newLeader = rest.find((b, i) => sentCount(b) > sentBefore[i]!)!;
        await waitUntil("15 ticks from the new leader", () => sentCount(newLeader) >= sentBefore[rest.indexOf(newLeader)]! + 15);
        for (const b of rest) assert.equal(await b.stop(), 0);

        const msgs = await takeAll(s.brokerUrl, "beat");
        assert.equal(
          msgs.length,
          beats.reduce((n, b) => n + sentCount(b), 0),
          "messages in the broker = sends logged",
        );
        assertEachTickOnce(
          msgs.map((m) => m.tick),
          45,
        );
        assert.ok(msgs.every((m) => m.entry === "fast-add"));
      },
    );

    if (mainOnly) return;

    test("restart: a beat stopped and started again neither re-sends nor drops ticks (catch-up all)", { skip }, async () => {
      const s = setup(deployment);
      const first = startBeat(s);
      await waitUntil("10 ticks", () => sentCount(first) >= 10);
      assert.equal(await first.stop(), 0);
      await sleep(1000); // ~5 ticks missed while down
      const second = startBeat(s);
      await waitUntil("10 more ticks", () => sentCount(second) >= 10);
      assert.equal(await second.stop(), 0);
      assertEachTickOnce(
        (await takeAll(s.brokerUrl, "beat")).map((m) => m.tick),
        20,
      );
    });

    test("dynamic entries: `beat add` and `beat remove` change a running beat without restart", { skip }, async () => {
      const s = setup(deployment);
      const beat = startBeat(s);
      await beat.waitFor(/leader \(fencing token/, 30_000);
      const cli = (...args: string[]) =>
        run(process.execPath, ["--import", "tsx", CLI, "-A", APP, "beat", ...args], { cwd: ROOT, env: { ...process.env, ...s.env } });
      const added = await cli("add", "dyn", "--task", "beatfixture.add", "--every", "0.3s", "--args", "[1, 2]", "--queue", "dyn");
      assert.match(added.stdout, /added dyn: beatfixture.add every 0.3s/);
      const listed = JSON.parse((await cli("list", "--json")).stdout) as { name: string; source: string }[];
      assert.deepEqual(
        listed.map((e) => [e.name, e.source]),
        [
          ["dyn", "store"],
          ["fast-add", "settings"],
        ],
      );
      await waitUntil("3 dyn ticks", async () => (await queueSize(s.brokerUrl, "dyn")) >= 3);
      assert.match((await cli("remove", "dyn")).stdout, /removed dyn/);
      await sleep(600); // a pass in flight may still send one
      const afterRemove = await queueSize(s.brokerUrl, "dyn");
      await sleep(1200); // 4 periods of the removed entry
      assert.equal(await queueSize(s.brokerUrl, "dyn"), afterRemove, "sent after removal");
      await assert.rejects(cli("remove", "dyn"), /no stored beat entry named dyn/);
      assert.equal(await beat.stop(), 0);
      const dyn = await takeAll(s.brokerUrl, "dyn");
      assert.ok(dyn.every((m) => m.entry === "dyn"));
      assertEachTickOnce(
        dyn.map((m) => m.tick),
        3,
        300,
      );
    });
  });
}

describe("worker -B", () => {
  test("a worker with embedded beat sends the ticks and runs them", async () => {
    const s = setup("sqlite");
    const worker = await startWorker(APP, ["-B", "-P", "async", "-c", "4", "-Q", "beat"], s.env);
    await worker.waitFor(/beat .* ready: /);
    await waitUntil("10 ticks", () => sentCount(worker) >= 10);
    const ids = [...worker.output().matchAll(/beat: sent fast-add \(beatfixture\.add\) tick \S+ as (\S+)/g)].map((m) => m[1]!);
    const app = new Celeriac({ name: "reader", broker: s.brokerUrl, backend: s.brokerUrl });
    try {
      for (const id of ids.slice(0, 5)) assert.equal(await app.AsyncResult<number>(id).get({ timeout: 10_000 }), 32);
    } finally {
      await app.close();
    }
    assert.equal(await worker.stop(), 0);
    assert.match(worker.output(), /lease released/);
  });
});
