// RabbitMQ: Celeriac and Python Celery 5.2 side by side on the same server,
// one run. Enqueue: N no-op tasks sent by each stack's own producer (Celeriac's
// with publisher confirms, every send awaited; Celery's apply_async as kombu
// sends by default). Processing: those N tasks waiting in a queue, drained by
// one worker process (results ignored, as in a fire-and-forget workload); the
// rate counts from the first look at the queue after the worker is ready to the
// result of a final task sent last. Round trip: sequential delay→get with
// rpc:// results, each client with its own kind of worker. Worker RSS: the
// peak while draining, and idle after the round trips.
import { spawn } from "node:child_process";
import amqp from "amqplib";
import { randomUUID } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { Celeriac } from "../src/index.js";
import { publishOptions } from "../src/brokers/amqp/codec.js";
import { encodeTask } from "../src/protocol/message.js";
import type { AmqpBroker } from "../src/brokers/amqp/index.js";
import { latencies, printTable, rate, roundTripsFrom, rssKb, ROOT, startCeleriacWorker, stopProcess } from "./util.js";

const AMQP_URL = process.env.BENCH_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672//";
const PYTHON = process.env.CELERIAC_TEST_PYTHON ?? "/usr/bin/python3";
const N = Number(process.env.BENCH_N ?? 20_000);
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 5000);
const ROUND_TRIPS_PY = Number(process.env.BENCH_ROUND_TRIPS_PY ?? 1000);
const PY_DIR = `${ROOT}/bench/py-amqp`;

interface Row {
  stack: string;
  enqueue: number;
  processing: number;
  p50: number;
  p99: number;
  loadRssMb: number;
  idleRssMb: number;
}

/** How long a worker idles after the round trips before its idle RSS is read. */
const IDLE_MS = 1500;

/** Samples a process's RSS every 50 ms until stopped; the peak, MB. */
function peakRss(pid: number): () => number {
  let peak = rssKb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  return () => {
    clearInterval(timer);
    return Math.max(peak, rssKb(pid)) / 1024;
  };
}

async function idleRss(pid: number): Promise<number> {
  await new Promise((r) => setTimeout(r, IDLE_MS));
  return rssKb(pid) / 1024;
}

/** Deletes a run's queue and its exchange from the (possibly shared) server. */
async function cleanup(queue: string): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    await ch.deleteQueue(queue).catch(() => {});
    await ch.deleteExchange(queue).catch(() => {});
  } finally {
    await conn.close().catch(() => {});
  }
}

function clientApp(queue: string): Celeriac {
  return new Celeriac({
    name: "bench",
    broker: AMQP_URL,
    backend: "rpc://",
    taskDefaultQueue: queue,
    taskDefaultExchange: queue,
    taskDefaultRoutingKey: queue,
  });
}

async function enqueue(app: Celeriac, n: number): Promise<number> {
  const t0 = performance.now();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < n; i++) sends.push(app.sendTask("bench.noop", [], {}, { ignoreResult: true }).sent);
  await Promise.all(sends);
  return rate(n, performance.now() - t0);
}

/** Drains the queue with a worker started by `start`; tasks/s from the first look after ready to the last result. */
async function processing(
  app: Celeriac,
  queue: string,
  start: () => Promise<ChildProcess>,
): Promise<{ rate: number; worker: ChildProcess; loadRssMb: number }> {
  const broker = (await app.broker()) as AmqpBroker;
  const last = app.sendTask("bench.noop", []);
  await last.sent;
  const worker = await start();
  const peak = peakRss(worker.pid!);
  const t0 = performance.now();
  const waiting = await broker.size(queue);
  await last.get({ timeout: 600_000 });
  const r = rate(waiting, performance.now() - t0);
  return { rate: r, worker, loadRssMb: peak() };
}

/** Sequential round trips from a producer process of its own, after its warm-up (bench/roundtrip.mjs). */
async function roundTrips(queue: string): Promise<{ p50: number; p99: number }> {
  return latencies(await roundTripsFrom("celeriac", queue, ROUND_TRIPS, { BENCH_BROKER_URL: AMQP_URL, BENCH_BACKEND_URL: "rpc://", BENCH_TASK: "bench.noop" }));
}

function startPython(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(PYTHON, args, { cwd: PY_DIR, env: { ...process.env, PYTHONUNBUFFERED: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

/** Starts a Celery worker; ready once it consumes the queue (at -l warning it prints nothing to wait for). */
async function startCeleryWorker(env: Record<string, string>, pool: string, concurrency: number, broker: AmqpBroker): Promise<ChildProcess> {
  const p = startPython(
    [
      "-m",
      "celery",
      "-A",
      "bench_tasks",
      "worker",
      "-P",
      pool,
      "-c",
      String(concurrency),
      "-l",
      "warning",
      "--without-gossip",
      "--without-mingle",
      "--without-heartbeat",
      "-n",
      `bench-${env.BENCH_QUEUE}@%h`,
    ],
    env,
  );
  let out = "";
  p.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + 60_000;
  while ((await broker.consumers(env.BENCH_QUEUE!)) === 0) {
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`celery worker did not start: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return p;
}

/** Runs a script of bench/py-amqp to its end; its last output line, parsed as JSON. */
async function runPython<T>(args: string[], env: Record<string, string>): Promise<T> {
  const p = startPython(args, env);
  let out = "";
  p.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((r) => p.on("exit", r));
  if (code !== 0) throw new Error(`${args[0]} failed (${code}): ${out.slice(-2000)}`);
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}

const pythonLatency = (env: Record<string, string>) => runPython<{ p50: number; p99: number }>(["latency.py", String(ROUND_TRIPS_PY)], env);

/** Python Celery's producer: N apply_async sends (bench/py-amqp/enqueue.py), tasks/s. */
const pythonEnqueue = async (env: Record<string, string>) => (await runPython<{ rate: number }>(["enqueue.py", String(N)], env)).rate;

async function celeriacRow(pool: "async" | "process", concurrency: number): Promise<Row> {
  const queue = `bench-js-${randomUUID().slice(0, 8)}`;
  const app = clientApp(queue);
  const env = {
    CELERIAC_BROKER_URL: AMQP_URL,
    CELERIAC_RESULT_BACKEND: "rpc://",
    CELERIAC_TASK_DEFAULT_QUEUE: queue,
    CELERIAC_TASK_DEFAULT_EXCHANGE: queue,
    CELERIAC_TASK_DEFAULT_ROUTING_KEY: queue,
  };
  try {
    const enq = await enqueue(app, N);
    const {
      rate: processed,
      worker,
      loadRssMb,
    } = await processing(app, queue, () => startCeleriacWorker(`${ROOT}/bench/app.mjs`, ["-P", pool, "-c", String(concurrency), "-l", "warning"], env));
    const rt = await roundTrips(queue);
    const idleRssMb = await idleRss(worker.pid!);
    await stopProcess(worker);
    return { stack: `Celeriac, ${pool} pool x${concurrency}`, enqueue: enq, processing: processed, ...rt, loadRssMb, idleRssMb };
  } finally {
    await app.close();
    await cleanup(queue);
  }
}

async function celeryRow(pool: string, concurrency: number): Promise<Row> {
  const queue = `bench-py-${randomUUID().slice(0, 8)}`;
  const app = clientApp(queue);
  const env = { BENCH_AMQP_URL: AMQP_URL, BENCH_QUEUE: queue };
  try {
    const enq = await pythonEnqueue(env);
    const {
      rate: processed,
      worker,
      loadRssMb,
    } = await processing(app, queue, async () => startCeleryWorker(env, pool, concurrency, (await app.broker()) as AmqpBroker));
    const rt = await pythonLatency(env);
    const idleRssMb = await idleRss(worker.pid!);
    await stopProcess(worker);
    return { stack: `Python Celery 5.2, ${pool} pool x${concurrency}`, enqueue: enq, processing: processed, ...rt, loadRssMb, idleRssMb };
  } finally {
    await app.close();
    await cleanup(queue);
  }
}

/**
 * The ceilings on this machine: bare amqplib publishing the same task
 * messages on a confirm channel (all in flight, one wait for every confirm),
 * then consuming and acking them (prefetch 400, a multiple-ack per 50,
 * nothing decoded or run): what any producer and worker on this RabbitMQ can
 * reach at most.
 */
async function rawCeiling(): Promise<{ published: number; consumed: number }> {
  const queue = `bench-raw-${randomUUID().slice(0, 8)}`;
  const conn = await amqp.connect(AMQP_URL, { noDelay: true });
  try {
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue(queue, { durable: true });
    // The same bytes a producer sends: a protocol v2 message with every Celery header.
    const p0 = performance.now();
    for (let i = 0; i < N; i++) {
      const m = encodeTask({ task: "bench.noop", ignoreResult: true });
      pub.sendToQueue(queue, m.body, publishOptions(m, undefined));
    }
    await pub.waitForConfirms();
    const published = rate(N, performance.now() - p0);
    const sub = await conn.createChannel();
    await sub.prefetch(400);
    let n = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      void sub.consume(queue, (m) => {
        if (!m) return;
        // One multiple-ack per 50 messages: the least acking RabbitMQ allows.
        if (++n % 50 === 0 || n === N) sub.ack(m, true);
        if (n === N) resolve();
      });
    });
    const r = rate(N, performance.now() - t0);
    await pub.deleteQueue(queue);
    return { published, consumed: r };
  } finally {
    await conn.close().catch(() => {});
  }
}

export async function run(): Promise<void> {
  process.env.CELERIAC_LOG_LEVEL = "warn";
  console.log(
    `RabbitMQ at ${AMQP_URL.replace(/:[^:@/]*@/, ":***@")}: ${N} no-op tasks drained by one worker process; ${ROUND_TRIPS} sequential delay→get round trips (rpc://; Python: ${ROUND_TRIPS_PY}) from a producer process of their own, each after ${Number(process.env.BENCH_WARM_UP_MS ?? 3000) / 1000} s of unmeasured ones`,
  );
  const ceiling = await rawCeiling();
  const js = await celeriacRow("async", 100);
  const py = await celeryRow("prefork", 2);
  const rows = [js, py];
  printTable(
    ["stack", "enqueue tasks/s (own producer)", "processing tasks/s", "round trip p50 ms", "p99 ms", "worker RSS MB draining", "idle"],
    [
      ...rows.map((r) => [r.stack, r.enqueue, r.processing, r.p50, r.p99, r.loadRssMb, r.idleRssMb]),
      ["ceiling: bare amqplib publish + consume", ceiling.published, ceiling.consumed, "-", "-", "-", "-"],
      [
        "Celeriac / Celery",
        `${(js.enqueue / py.enqueue).toFixed(1)}x`,
        `${(js.processing / py.processing).toFixed(1)}x`,
        `${(py.p50 / js.p50).toFixed(1)}x faster`,
        `${(py.p99 / js.p99).toFixed(1)}x faster`,
        "-",
        "-",
      ],
      [
        "Celeriac / ceiling",
        `${Math.round((js.enqueue / ceiling.published) * 100)} %`,
        `${Math.round((js.processing / ceiling.consumed) * 100)} %`,
        "-",
        "-",
        "-",
        "-",
      ],
    ],
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
