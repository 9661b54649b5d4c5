// `npm run chaos`: the fault scenarios of test/faults (test/faults/scenarios.ts,
// one implementation for both) at a larger size, printed as a markdown table
// for docs/reliability.md. The tests assert; this measures and reports, so a
// scenario that loses tasks is a row, not an abort. Pool faults (signals to
// the worker's group, stray errors in async-pool tasks) are covered by
// test/integration/pool-lifetime.test.ts, which is run here as it stands.
//   CHAOS_TASKS=3000 npm run chaos
//   CHAOS_ONLY=sentinel npm run chaos    only some groups: faults, sentinel, rediscluster, cluster, pool
// The Sentinel rows (high availability, docs/high-availability.md) run
// CHAOS_SENTINEL_TASKS tasks (default 5000), twice.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../test/support/processes.js";
import { startOwnRabbit, type OwnRabbit } from "../test/support/rabbit.js";
import { startOwnRedis, type OwnRedis } from "../test/support/redis.js";
import { startRabbitCluster } from "../test/support/rabbit-cluster.js";
import { startSentinelSet } from "../test/support/sentinel.js";
import { CLUSTER_PREFIX, startRedisCluster } from "../test/support/redis-cluster.js";
import {
  breakBrokerWhileDraining,
  killMasterWhileDraining,
  killSentinelMasterWhileDraining,
  killRabbitWhileDraining,
  killRedisWhileDraining,
  killWorkerWhileDraining,
  stallRedisWhileDraining,
  type DrainOptions,
  type Outcome,
  type Target,
} from "../test/faults/scenarios.js";

const TASKS = Number(process.env.CHAOS_TASKS ?? 3000);
const SENTINEL_TASKS = Number(process.env.CHAOS_SENTINEL_TASKS ?? 5000);
const ONLY = process.env.CHAOS_ONLY?.split(",").map((s) => s.trim());
const want = (group: string) => !ONLY || ONLY.includes(group);
const SIZE = { tasks: TASKS, taskMs: 10, concurrency: 8, timeoutMs: 600_000 };
const dir = mkdtempSync(join(tmpdir(), "celeriac-chaos-"));
const rows: string[] = [];
let n = 0;

const fmt = (s: number | null) => (s === null ? "–" : s.toFixed(1));

/** Runs one scenario and adds its row; a scenario that throws is a row saying so. */
async function row(label: string, broker: string, run: (runsFile: string) => Promise<Outcome>): Promise<void> {
  const runsFile = join(dir, `${n++}.runs`);
  process.stderr.write(`chaos: ${label} on ${broker}…\n`);
  try {
    const o = await run(runsFile);
    await o.worker.stop();
    rows.push(`| ${o.scenario} | ${o.broker} | ${o.sent} | ${o.completed} | ${o.lost} | ${o.runTwice} | ${fmt(o.recoverySeconds)} |`);
    process.stderr.write(`chaos: ${rows.at(-1)}\n`);
  } catch (err) {
    rows.push(`| ${label} | ${broker} | – | – | – | – | failed: ${(err as Error).message.split("\n")[0]} |`);
  }
}

const redisTarget = (r: OwnRedis, queue: string, backendUrl = r.url(0)): Target => ({
  broker: "redis",
  brokerUrl: r.url(0),
  backendUrl,
  queue,
  visibilityTimeout: 3,
});
const sized = (target: Target, runsFile: string, over: Partial<DrainOptions> = {}): DrainOptions => ({ ...SIZE, target, runsFile, ...over });
let port = 6430;
async function durableRedis(): Promise<OwnRedis> {
  const data = join(dir, `aof-${port}`);
  mkdirSync(data);
  return startOwnRedis(port++, ["--appendonly", "yes", "--appendfsync", "always", "--dir", data]);
}

if (want("faults")) {
  // 1. kill -9 of the worker, three times, on each broker.
  const sqlite = `sqlite://${join(dir, "kill.db")}`;
  await row("kill -9 worker ×3", "sqlite", (runsFile) =>
    killWorkerWhileDraining({
      ...sized({ broker: "sqlite", brokerUrl: sqlite, backendUrl: sqlite, queue: "fault-kill", visibilityTimeout: 3 }, runsFile),
      kills: 3,
    }),
  );
  {
    const redis = await startOwnRedis(port++);
    await row("kill -9 worker ×3", "redis", (runsFile) => killWorkerWhileDraining({ ...sized(redisTarget(redis, "fault-kill"), runsFile), kills: 3 }));
    await redis.stop();
  }
  let rabbit: OwnRabbit | null = null;
  if (existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server")) {
    rabbit = await startOwnRabbit({ nodeName: "rabbitfault@localhost", port: 5680, distPort: 25680 });
    const amqp = (queue: string): Target => ({ broker: "amqp", brokerUrl: rabbit!.url, backendUrl: `sqlite://${join(dir, `${queue}.db`)}`, queue });
    await row("kill -9 worker ×3", "amqp", (runsFile) => killWorkerWhileDraining({ ...sized(amqp("fault-kill"), runsFile), kills: 3 }));
    // The node killed and booted again, with sends made while it is down.
    await row("kill -9 RabbitMQ node", "amqp", (runsFile) => killRabbitWhileDraining(sized(amqp("fault-node"), runsFile), rabbit!, 100));
    await rabbit.stop();
  } else {
    rows.push("| kill -9 worker ×3 | amqp | – | – | – | – | not run: no rabbitmq-server |");
  }

  // 2–4. The private Redis killed (appendonly), stalled, killed under an idle -c 1 worker.
  for (const [label, run] of [
    ["kill -9 Redis (appendonly)", (r: OwnRedis, f: string) => killRedisWhileDraining(sized(redisTarget(r, "fault-outage"), f), r, 2000)],
    ["SIGSTOP Redis 10 s", (r: OwnRedis, f: string) => stallRedisWhileDraining(sized(redisTarget(r, "fault-outage"), f), r, 10_000)],
    [
      "kill -9 Redis, -c 1 idle",
      (r: OwnRedis, f: string) => killRedisWhileDraining(sized(redisTarget(r, "fault-outage"), f, { tasks: 1, concurrency: 1 }), r, 2000, 100),
    ],
  ] as const) {
    const redis = await durableRedis();
    await row(label, "redis", (runsFile) => run(redis, runsFile));
    await redis.stop();
  }
  // What appendonly is for: the same kill -9 of a Redis without it loses what was queued (results kept in sqlite, so only the queue is lost).
  {
    const redis = await startOwnRedis(port++);
    const backend = `sqlite://${join(dir, "no-aof.db")}`;
    await row("kill -9 Redis without appendonly", "redis", (runsFile) =>
      breakBrokerWhileDraining(
        "kill -9 Redis, no appendonly (queue lost, as documented)",
        // Not a minute more for tasks that cannot come back; the sends made while it is down mark the recovery.
        sized(redisTarget(redis, "fault-noaof", backend), runsFile, { timeoutMs: 60_000 }),
        { inflict: () => redis.kill(), mend: () => redis.start() },
        100,
      ),
    );
    await redis.stop();
  }
}

// High availability: kill -9 of a Sentinel set's master (two replicas, three sentinels) under the worker, twice.
if (want("sentinel")) {
  const set = await startSentinelSet();
  for (let i = 0; i < 2; i++) {
    await row("kill -9 Sentinel master", "redis (sentinel)", (runsFile) =>
      killSentinelMasterWhileDraining(
        sized(
          {
            broker: "redis",
            brokerUrl: set.url(0),
            backendUrl: set.url(0),
            queue: `fault-sentinel-${i}`,
            visibilityTimeout: 3,
            transportOptions: set.transportOptions,
          },
          runsFile,
          // A result lost with the master is waited for to the end: a minute, not ten.
          { tasks: SENTINEL_TASKS, timeoutMs: 120_000 },
        ),
        set,
        500,
      ),
    );
  }
  await set.stop();
}

// High availability: kill -9 of a Redis Cluster master (three masters, a replica each) under the worker:
// the one-slot layout (the prefix's master), then sharded by queue (the master of the queue's slot, one
// that still has a replica), results in SQLite there (the backend keeps one slot).
if (want("rediscluster")) {
  const cluster = await startRedisCluster(6550, { masters: 3, replicas: 1 });
  const oneSlot = { globalKeyprefix: CLUSTER_PREFIX };
  let killed = 0;
  await row("kill -9 Redis Cluster master", "redis cluster (one slot)", (runsFile) =>
    killMasterWhileDraining(
      "Redis Cluster (one slot)",
      sized(
        { broker: "redis", brokerUrl: cluster.url(), backendUrl: cluster.url(), queue: "fault-rcluster", visibilityTimeout: 3, transportOptions: oneSlot },
        runsFile,
        { tasks: SENTINEL_TASKS, timeoutMs: 120_000 },
      ),
      { killMaster: async () => (killed = await cluster.killMaster()), promoted: (port) => cluster.promoted(port) },
      500,
    ),
  );
  // A queue on a master that was neither killed nor promoted (so it has its replica still).
  const promotedUrl = await cluster.masterUrlFor(CLUSTER_PREFIX);
  let queue = "";
  for (let i = 0; !queue; i++) {
    const url = await cluster.masterUrlFor(`{fault-rcluster-sharded-${i}}`);
    if (url !== promotedUrl && !url.includes(`:${killed}/`)) queue = `fault-rcluster-sharded-${i}`;
  }
  await row("kill -9 Redis Cluster master", "redis cluster (sharded by queue)", (runsFile) =>
    killMasterWhileDraining(
      "Redis Cluster (sharded by queue)",
      sized(
        {
          broker: "redis",
          brokerUrl: cluster.url(),
          backendUrl: `sqlite://${join(dir, "rcluster.db")}`,
          queue,
          visibilityTimeout: 3,
          transportOptions: { shardByQueue: true },
        },
        runsFile,
        { tasks: SENTINEL_TASKS, timeoutMs: 120_000 },
      ),
      { killMaster: () => cluster.killMaster(`{${queue}}`), promoted: (port) => cluster.promoted(port, `{${queue}}`) },
      500,
    ),
  );
  await cluster.stop();
}

// High availability: kill -9 of the worker's node of a three-node RabbitMQ cluster, quorum queues, the other nodes in the URL list.
if (want("cluster") && existsSync("/usr/lib/rabbitmq/bin/rabbitmq-server")) {
  const cluster = await startRabbitCluster(`rabbitchaos${process.pid}-`, 3);
  await row("kill -9 of the worker's RabbitMQ node", "amqp (3-node cluster, quorum)", (runsFile) =>
    breakBrokerWhileDraining(
      "kill -9 of the worker's node, quorum queues",
      sized(
        { broker: "amqp", brokerUrl: cluster.url, backendUrl: `sqlite://${join(dir, "cluster.db")}`, queue: "fault-quorum", queueType: "quorum" },
        runsFile,
      ),
      { inflict: () => cluster.nodes[0]!.kill(), mend: async () => {} },
      500,
    ),
  );
  for (const node of cluster.nodes) await node.stop();
}

// 5–6. Pool faults: the test that covers them, run as it stands.
const pool = want("pool")
  ? spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "test/integration/pool-lifetime.test.ts"], {
      cwd: ROOT,
      encoding: "utf8",
    })
  : null;
const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)`, "m").exec(pool?.stdout ?? "")?.[1] ?? NaN);
const poolNote = pool ? `pool-lifetime.test.ts: ${count("pass")} passed, ${count("fail")} failed` : "not run (CHAOS_ONLY)";

rmSync(dir, { recursive: true, force: true });
const machine = `${execFileSync("nproc").toString().trim()} cores, Node ${process.version}, Redis ${execFileSync("redis-server", ["--version"]).toString().split(" ")[2]!.slice(2)}`;
console.log(
  `\n## Chaos run ${new Date().toISOString().slice(0, 10)} (${TASKS} tasks a scenario, ${SIZE.taskMs} ms each, -c ${SIZE.concurrency}; ${machine})\n`,
);
console.log("| scenario | broker | sent | completed | lost | run twice | recovery (s) |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const r of rows) console.log(r);
console.log(
  `\nSIGINT/SIGTERM to the worker's process group with 3 s tasks running (process pool), and async-pool tasks that throw from a timer or leave a rejection unhandled: ${poolNote}.`,
);
