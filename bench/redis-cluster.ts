// Redis high availability benchmark: what a Sentinel set and the cluster
// layouts cost against one server, in one run, on servers of their own (one
// redis-server and a three-master cluster on loopback ports 6550-6556, a
// master with two replicas and three sentinels on free ports, started and
// stopped here).
//
//   npm run bench -- redis-cluster     (BENCH_CLUSTER_N tasks, default 20,000; BENCH_CLUSTER_ROUND_TRIPS, default 1,000)
//
// Rows: one server; through Sentinel (the master found by the sentinels,
// replicated to two replicas asynchronously); the cluster in one slot (globalKeyprefix "{bench}");
// sharded by queue with one queue (one master working) and with three queues
// on the three masters (one worker consuming all three). Each: bulk enqueue
// tasks/s, no-op processing tasks/s (one worker process, async pool c=100),
// delay→get round trip p50/p99 (sequential, worker idle, results in the same
// Redis or cluster). On two shared cores the masters, the worker and the
// producer compete for CPU, so three masters cannot show their capacity here.
import type { ChildProcess } from "node:child_process";
import { Celeriac } from "../src/index.js";
import { startRedisCluster } from "../test/support/redis-cluster.js";
import { startSentinelSet } from "../test/support/sentinel.js";
import { startOwnRedis } from "../test/support/redis.js";
import { latencies, roundTripsFrom, startCeleriacWorker, stopProcess } from "./util.js";

const N = Number(process.env.BENCH_CLUSTER_N ?? 20_000);
const ROUND_TRIPS = Number(process.env.BENCH_CLUSTER_ROUND_TRIPS ?? 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Setup {
  name: string;
  url: string;
  broker: Record<string, unknown>;
  backend: Record<string, unknown>;
  queues: string[];
}

interface Row {
  name: string;
  enqueue: number;
  processing: number;
  p50: number;
  p99: number;
}

async function measure(s: Setup): Promise<Row> {
  const env = {
    BENCH_REDIS_URL: s.url,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify(s.broker),
    CELERIAC_RESULT_BACKEND_TRANSPORT_OPTIONS: JSON.stringify(s.backend),
    CELERIAC_LOG_LEVEL: "warning",
  };
  const app = new Celeriac({
    name: "bench-cluster",
    broker: s.url,
    backend: s.url,
    brokerTransportOptions: s.broker,
    resultBackendTransportOptions: s.backend,
  });
  let worker: ChildProcess | null = null;
  try {
    const broker = await app.broker();
    // Warm up (JIT, connections), then purge.
    await Promise.all(Array.from({ length: 2000 }, (_, i) => app.sendTask("bench.noop", [i], undefined, { queue: s.queues[i % s.queues.length] }).sent));
    for (const q of s.queues) await broker.purge(q);
    const t0 = performance.now();
    const sent: Promise<void>[] = new Array(N);
    for (let i = 0; i < N; i++) sent[i] = app.sendTask("bench.noop", [i], undefined, { queue: s.queues[i % s.queues.length] }).sent;
    await Promise.all(sent);
    const enqueue = (N / (performance.now() - t0)) * 1000;
    const pending = async () => (await Promise.all(s.queues.map((q) => broker.size(q)))).reduce((a, b) => a + b, 0);
    worker = await startCeleriacWorker("bench/redis/celeriac-app.mjs", ["-P", "async", "-c", "100", "-l", "warning", "-Q", s.queues.join(",")], env);
    while ((await pending()) >= N) await sleep(1);
    const t1 = performance.now();
    while ((await pending()) > 0) await sleep(5);
    const processing = (N / (performance.now() - t1)) * 1000;
    const samples = await roundTripsFrom("celeriac", s.queues[0]!, ROUND_TRIPS, env);
    return { name: s.name, enqueue, processing, ...latencies(samples) };
  } finally {
    if (worker) await stopProcess(worker);
    await app.close();
  }
}

const fmt = (v: number, digits = 0) => v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function run(): Promise<void> {
  const single = await startOwnRedis(6556);
  const cluster = await startRedisCluster(6550, { masters: 3 });
  const sentinel = await startSentinelSet({ replicas: 2 });
  const rows: Row[] = [];
  try {
    // Three queue names whose slots are on the three masters.
    const spread: string[] = [];
    const owners = new Set<string>();
    for (let i = 0; spread.length < 3; i++) {
      const owner = await cluster.masterUrlFor(`{bench-q${i}}`);
      if (owners.has(owner)) continue;
      owners.add(owner);
      spread.push(`bench-q${i}`);
    }
    const oneSlot = { globalKeyprefix: "{bench}" };
    const setups: Setup[] = [
      { name: "one server", url: single.url(0), broker: {}, backend: {}, queues: ["bench-q"] },
      {
        name: "sentinel (master, 2 replicas)",
        url: sentinel.url(0),
        broker: sentinel.transportOptions,
        backend: sentinel.transportOptions,
        queues: ["bench-q"],
      },
      { name: "cluster, one slot", url: cluster.url(), broker: oneSlot, backend: oneSlot, queues: ["bench-q"] },
      { name: "cluster, sharded, 1 queue", url: cluster.url(), broker: { shardByQueue: true }, backend: oneSlot, queues: [spread[0]!] },
      { name: "cluster, sharded, 3 queues on 3 masters", url: cluster.url(), broker: { shardByQueue: true }, backend: oneSlot, queues: spread },
    ];
    for (const s of setups) {
      console.log(`… ${s.name}`);
      try {
        rows.push(await measure(s));
      } catch (err) {
        console.log(`${s.name}: failed: ${(err as Error).message.slice(0, 400)}`);
      }
    }
  } finally {
    await cluster.stop();
    await sentinel.stop();
    await single.kill();
  }
  console.log(`\n${N} no-op tasks a row, one worker process (-P async -c 100); ${ROUND_TRIPS} sequential delay→get round trips\n`);
  console.log("| layout | bulk enqueue tasks/s | processing tasks/s | delay→get p50 ms | p99 ms |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) console.log(`| ${r.name} | ${fmt(r.enqueue)} | ${fmt(r.processing)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} |`);
  const base = rows.find((r) => r.name === "one server");
  if (base) {
    console.log("\n| vs one server | enqueue | processing | p50 (server/layout) |");
    console.log("|---|---:|---:|---:|");
    for (const r of rows.filter((x) => x !== base))
      console.log(
        `| ${r.name} | ${(r.enqueue / base.enqueue).toFixed(2)}× | ${(r.processing / base.processing).toFixed(2)}× | ${(base.p50 / r.p50).toFixed(2)}× |`,
      );
  }
}
