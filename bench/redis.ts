// Redis benchmark: Celeriac vs BullMQ vs Python Celery 5.2.6 (solo and
// prefork), side by side on the same local Redis, in one run.
//
//   npm run bench -- redis     (BENCH_REDIS_URL, default redis://127.0.0.1:6379/5; the db is flushed)
//
// For each: bulk enqueue tasks/s; no-op processing tasks/s with one worker
// process; delay→get round trip p50/p99 (sequential, worker idle); idle worker RSS.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { Celeriac } from "../src/index.js";
import { latencies, ROOT, roundTripsFrom as roundTripsOf } from "./util.js";

const run$ = promisify(execFile);
const PY_DIR = fileURLToPath(new URL("./redis/py", import.meta.url));
const URL_ = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/5";
const N = Number(process.env.BENCH_N ?? 50_000);
const N_PY = Number(process.env.BENCH_N_PY ?? 10_000);
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 5000);
const ROUND_TRIPS_PY = Number(process.env.BENCH_ROUND_TRIPS_PY ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const PYTHON = "/usr/bin/python3";

interface Row {
  name: string;
  enqueue: number | null;
  processing: number | null;
  p50: number | null;
  p99: number | null;
  rssMb: number | null;
  /** CPU time per task while processing, worker and Redis together, µs: a figure the machine's other load disturbs less. */
  cpuUs?: number | null;
  note?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident memory of a process and its children, MB. */
async function rssMb(pid: number): Promise<number> {
  const { stdout } = await run$("ps", ["-o", "rss=", "--pid", String(pid), "--ppid", String(pid)]);
  return (
    stdout
      .split("\n")
      .filter(Boolean)
      .reduce((n, l) => n + Number(l.trim()), 0) / 1024
  );
}

/** CPU seconds used so far by a process and its children (from /proc; 10 ms resolution). */
async function cpuSeconds(pid: number): Promise<number> {
  const { stdout } = await run$("ps", ["-o", "pid=", "--pid", String(pid), "--ppid", String(pid)]);
  let ticks = 0;
  for (const p of stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks / 100;
}

/** CPU seconds the Redis server has used so far. */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return get("used_cpu_user") + get("used_cpu_sys");
}

/** Waits until `count()` reaches 0; tasks/s from the last poll that still saw every task. */
async function drainRate(count: () => Promise<number>, total: number, timeoutMs = 300_000): Promise<number> {
  let t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await count();
    const now = performance.now();
    if (n >= total) t0 = now;
    if (n === 0) return (total / (now - t0)) * 1000;
    if (Date.now() > deadline) throw new Error(`not drained in time (${n} left)`);
    await sleep(2);
  }
}

interface Proc {
  proc: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts a process; resolves once its output matches `ready` (at once when null). */
function start(cmd: string, args: string[], env: Record<string, string>, ready: RegExp | null): Promise<Proc> {
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  proc.stdout!.on("data", (b: Buffer) => (text += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  const p: Proc = {
    proc,
    output: () => text,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await once(proc, "exit");
      clearTimeout(timer);
    },
  };
  if (!ready) return Promise.resolve(p);
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (ready.test(text)) {
        clearInterval(timer);
        resolve(p);
      } else if (proc.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`${cmd} exited: ${text.slice(-2000)}`));
      }
    }, 5);
  });
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** How one system is driven; measure() runs it the same way for every system. */
interface Subject {
  name: string;
  /** Sends `n` no-op tasks; returns tasks/s. */
  enqueue(n: number): Promise<number>;
  startWorker(): Promise<Proc>;
  /** Tasks not yet started. */
  pending(): Promise<number>;
  /** Sequential delay→get round trips, ms each. */
  roundTrips(): Promise<number[]>;
  close(): Promise<void>;
}

/**
 * Best of ROUNDS for enqueue and processing (this machine is shared, so the best
 * round is the one least disturbed), then round trips and idle RSS with the last worker.
 */
async function measure(redis: Redis, subject: Subject, n: number): Promise<Row> {
  let enqueue = 0;
  let processing = 0;
  let cpuUs = Infinity;
  let worker: Proc | null = null;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      enqueue = Math.max(enqueue, await subject.enqueue(n));
      const total = await subject.pending();
      worker = await subject.startWorker();
      const pid = worker.proc.pid!;
      // CPU counted from the first task taken (start-up excluded) to the last.
      let cpu0 = 0;
      while ((await subject.pending()) >= total) [cpu0] = await Promise.all([cpuSeconds(pid), sleep(1)]);
      const redis0 = await redisCpuSeconds(redis);
      processing = Math.max(processing, await drainRate(() => subject.pending(), total));
      const used = (await cpuSeconds(pid)) - cpu0 + ((await redisCpuSeconds(redis)) - redis0);
      cpuUs = Math.min(cpuUs, (used / total) * 1e6);
      if (round < ROUNDS - 1) {
        await worker.stop();
        worker = null;
        // A message a stopped worker left unacked would otherwise count as pending next round.
        await redis.del("unacked", "unacked_index");
      }
    }
    const samples = await subject.roundTrips();
    await sleep(1500);
    const rss = await rssMb(worker!.proc.pid!);
    return { name: subject.name, enqueue, processing, ...latencies(samples), rssMb: rss, cpuUs };
  } finally {
    await worker?.stop();
    await subject.close();
    await redis.flushdb();
  }
}

async function listAndUnacked(redis: Redis, queue: string): Promise<number> {
  const [[, a], [, b]] = (await redis.pipeline().llen(queue).hlen("unacked").exec())! as [[unknown, number], [unknown, number]];
  return a + b;
}

async function celeriac(redis: Redis, pool: "async" | "process" = "async"): Promise<Subject> {
  await redis.flushdb();
  const queue = "bench-celeriac";
  const concurrency = pool === "async" ? CONCURRENCY : 2;
  const app = new Celeriac({ name: "bench-producer", broker: URL_, backend: URL_ });
  // Warm up (JIT, connections) on another queue, then purge it.
  await Promise.all(Array.from({ length: 5000 }, (_, i) => app.sendTask("bench.noop", [i], undefined, { queue: "warmup" }).sent));
  await (await app.broker()).purge("warmup");
  return {
    name: `Celeriac (${pool} pool, c=${concurrency})`,
    async enqueue(n) {
      const t0 = performance.now();
      const sent: Promise<void>[] = new Array(n);
      for (let i = 0; i < n; i++) sent[i] = app.sendTask("bench.noop", [i], undefined, { queue }).sent;
      await Promise.all(sent);
      return (n / (performance.now() - t0)) * 1000;
    },
    startWorker: () =>
      start(
        process.execPath,
        ["bin/celeriac.js", "-A", "bench/redis/celeriac-app.mjs", "worker", "-P", pool, "-c", String(concurrency), "-l", "warning", "-Q", queue],
        { BENCH_REDIS_URL: URL_, CELERIAC_LOG_LEVEL: "warning" },
        null,
      ),
    pending: () => listAndUnacked(redis, queue),
    roundTrips: () => roundTripsFrom("celeriac", queue),
    close: () => app.close(),
  };
}

async function bullmq(redis: Redis): Promise<Subject> {
  await redis.flushdb();
  const name = "bench-bullmq";
  const u = new URL(URL_);
  const connection = { host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0) };
  const queue = new Queue(name, { connection });
  await queue.waitUntilReady();
  const opts = { removeOnComplete: true, removeOnFail: true };
  // Warm up (JIT, connections, Lua scripts), then empty the queue.
  await queue.addBulk(Array.from({ length: 5000 }, () => ({ name: "noop", data: { x: null }, opts })));
  await queue.drain();
  return {
    name: `BullMQ ${bullmqVersion()} (c=${CONCURRENCY})`,
    async enqueue(n) {
      // addBulk, BullMQ's fastest way in, in chunks of 1000.
      const t0 = performance.now();
      for (let i = 0; i < n; i += 1000) {
        const jobs = [];
        for (let j = i; j < Math.min(n, i + 1000); j++) jobs.push({ name: "noop", data: { x: null }, opts });
        await queue.addBulk(jobs);
      }
      return (n / (performance.now() - t0)) * 1000;
    },
    startWorker: () =>
      start(
        process.execPath,
        ["bench/redis/bullmq-worker.mjs"],
        {
          BENCH_REDIS_URL: URL_,
          BENCH_QUEUE: name,
          BENCH_CONCURRENCY: String(CONCURRENCY),
        },
        /ready/,
      ),
    async pending() {
      const c = await queue.getJobCounts("wait", "active", "paused", "prioritized");
      return (c.wait ?? 0) + (c.active ?? 0) + (c.paused ?? 0) + (c.prioritized ?? 0);
    },
    roundTrips: () => roundTripsFrom("bullmq", name),
    close: () => queue.close(),
  };
}

function bullmqVersion(): string {
  try {
    return (JSON.parse(readFileSync(fileURLToPath(new URL("../node_modules/bullmq/package.json", import.meta.url)), "utf8")) as { version: string }).version;
  } catch {
    return "";
  }
}

async function celery(redis: Redis, pool: "solo" | "prefork"): Promise<Subject> {
  await redis.flushdb();
  const queue = `bench-celery-${pool}`;
  const env = { BENCH_REDIS_URL: URL_, BENCH_QUEUE: queue, PYTHONPATH: PY_DIR };
  const client = async <T>(args: string[]) =>
    JSON.parse((await run$(PYTHON, [`${PY_DIR}/client.py`, ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 26 })).stdout) as T;
  const poolArgs = pool === "solo" ? ["--pool", "solo"] : ["--pool", "prefork", "-c", "2"];
  return {
    name: `Celery 5.2.6 (${pool === "solo" ? "--pool solo" : "prefork -c 2"})`,
    async enqueue(n) {
      const { seconds } = await client<{ seconds: number }>(["enqueue", String(n)]);
      return n / seconds;
    },
    startWorker: () =>
      start(
        PYTHON,
        ["-m", "celery", "-A", "benchapp", "worker", ...poolArgs, "-l", "warning", "-Q", queue, "--without-mingle", "--without-gossip", "--without-heartbeat"],
        env,
        null,
      ),
    pending: () => listAndUnacked(redis, queue),
    async roundTrips() {
      return (await client<{ samples_ms: number[] }>(["roundtrip", String(ROUND_TRIPS_PY)])).samples_ms;
    },
    close: async () => {},
  };
}

/** Sequential round trips through bench/redis/raw-worker.mjs: the machine's floor for p50/p99. */
async function rawRoundTrips(): Promise<number[]> {
  const worker = await start(process.execPath, ["bench/redis/raw-worker.mjs"], { BENCH_REDIS_URL: URL_ }, /ready/);
  try {
    return await roundTripsFrom("raw", "bench-raw");
  } finally {
    await worker.stop();
  }
}

/** Sequential delay→get round trips, from a producer process of its own (bench/roundtrip.mjs). */
const roundTripsFrom = (system: "celeriac" | "bullmq" | "raw", queue: string) => roundTripsOf(system, queue, ROUND_TRIPS, { BENCH_REDIS_URL: URL_ });

/**
 * Worker RSS before and after scheduling BENCH_ETA_N (default 1,000,000) tasks an
 * hour ahead, on a private redis-server (port 6393), so the shared one is spared ~1 GB.
 */
async function scheduledRss(): Promise<string> {
  const n = Number(process.env.BENCH_ETA_N ?? 1_000_000);
  const port = 6393;
  const url = `redis://127.0.0.1:${port}/0`;
  const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let serverLog = "";
  server.stdout!.on("data", (b: Buffer) => (serverLog += b.toString()));
  server.stderr!.on("data", (b: Buffer) => (serverLog += b.toString()));
  try {
    for (let i = 0; !/Ready to accept connections/.test(serverLog); i++) {
      if (server.exitCode !== null || i > 200) throw new Error(`redis-server on ${port} did not start: ${serverLog.slice(-500)}`);
      await sleep(25);
    }
    const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true });
    redis.on("error", () => {});
    await redis.connect();
    const app = new Celeriac({ name: "bench-eta", broker: url, backend: url });
    const worker = await start(
      process.execPath,
      ["bin/celeriac.js", "-A", "bench/redis/celeriac-app.mjs", "worker", "-P", "async", "-c", String(CONCURRENCY), "-l", "info", "-Q", "eta"],
      { BENCH_REDIS_URL: url },
      / ready: /,
    );
    await sleep(1500);
    const before = await rssMb(worker.proc.pid!);
    for (let i = 0; i < n; i += 50_000) {
      const sent: Promise<void>[] = [];
      for (let j = i; j < Math.min(n, i + 50_000); j++) sent.push(app.sendTask("bench.noop", [j], undefined, { queue: "eta", countdown: 3600 }).sent);
      await Promise.all(sent);
    }
    await sleep(5000);
    const afterRss = await rssMb(worker.proc.pid!);
    const scheduled = await redis.zcard("_celeriac.schedule.eta");
    const used = Number(/used_memory:(\d+)/.exec(await redis.info("memory"))![1]) / 2 ** 20;
    await worker.stop();
    await app.close();
    redis.disconnect();
    return `Celeriac worker RSS with ${scheduled.toLocaleString("en-US")} tasks scheduled an hour ahead: ${afterRss.toFixed(1)} MB (before: ${before.toFixed(1)} MB; Redis used ${used.toFixed(0)} MB for them)`;
  } finally {
    if (server.exitCode === null) {
      server.kill("SIGTERM");
      await once(server, "exit");
    }
  }
}

const fmt = (v: number | null, digits = 0) => (v === null ? "—" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const ratio = (a: number | null, b: number | null, lowerIsBetter = false) =>
  a === null || b === null || a === 0 || b === 0 ? "—" : `${(lowerIsBetter ? b / a : a / b).toFixed(1)}×`;

export async function run(): Promise<void> {
  const redis = new Redis(URL_);
  const rows: Row[] = [];
  const attempt = async (name: string, f: () => Promise<Row>) => {
    try {
      console.log(`… ${name}`);
      rows.push(await f());
    } catch (err) {
      rows.push({ name, enqueue: null, processing: null, p50: null, p99: null, rssMb: null, note: (err as Error).message.slice(0, 600).replace(/\n/g, " ") });
    }
  };
  // BENCH_SKIP_CELERY=1 leaves the (slow) Python rows out, for a quick look.
  await attempt("Celeriac", async () => measure(redis, await celeriac(redis), N));
  await attempt("BullMQ", async () => measure(redis, await bullmq(redis), N));
  // The default pool, against Celery's prefork with as many children.
  await attempt("Celeriac process pool", async () => measure(redis, await celeriac(redis, "process"), N_PY));
  if (!process.env.BENCH_SKIP_CELERY) {
    await attempt("Celery solo", async () => measure(redis, await celery(redis, "solo"), N_PY));
    await attempt("Celery prefork", async () => measure(redis, await celery(redis, "prefork"), N_PY));
  }
  let floor: string;
  try {
    const raw = await rawRoundTrips();
    const f = latencies(raw);
    floor = `Floor on this machine (bare ioredis: LPUSH → BRPOP in another process → SET + PUBLISH → subscriber, ${ROUND_TRIPS} sequential): p50 ${f.p50.toFixed(3)} ms, p99 ${f.p99.toFixed(3)} ms`;
  } catch (err) {
    floor = `round-trip floor: failed: ${(err as Error).message}`;
  }
  await redis.flushdb();
  redis.disconnect();
  let eta = "scheduled-task RSS: skipped (BENCH_SKIP_ETA)";
  try {
    if (!process.env.BENCH_SKIP_ETA) {
      console.log("… 1,000,000 scheduled tasks");
      eta = await scheduledRss();
    }
  } catch (err) {
    eta = `scheduled-task RSS: failed: ${(err as Error).message}`;
  }

  console.log(
    `\nRedis ${URL_.replace(/\/\/[^@]*@/, "//***@")}; ${N} tasks (Python: ${N_PY}), best of ${ROUNDS} rounds; round trips: ${ROUND_TRIPS} (Python: ${ROUND_TRIPS_PY}), each after ${Number(process.env.BENCH_WARM_UP_MS ?? 3000) / 1000} s of unmeasured ones\n`,
  );
  console.log(
    "| system | bulk enqueue tasks/s | no-op processing tasks/s (1 worker process) | CPU µs/task (worker + Redis) | delay→get p50 ms | p99 ms | idle worker RSS MB |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${fmt(r.enqueue)} | ${fmt(r.processing)} | ${fmt(r.cpuUs ?? null, 1)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${fmt(r.rssMb, 1)} |${r.note ? ` failed: ${r.note}` : ""}`,
    );
  }
  const us = rows[0]!;
  console.log("\n| Celeriac / peer | enqueue | processing | CPU per task (peer/ours) | p50 (peer/ours) | p99 (peer/ours) | RSS (peer/ours) |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows.slice(1)) {
    console.log(
      `| vs ${r.name} | ${ratio(us.enqueue, r.enqueue)} | ${ratio(us.processing, r.processing)} | ${ratio(us.cpuUs ?? null, r.cpuUs ?? null, true)} | ${ratio(us.p50, r.p50, true)} | ${ratio(us.p99, r.p99, true)} | ${ratio(us.rssMb, r.rssMb, true)} |`,
    );
  }
  const processRow = rows.find((r) => r.name.startsWith("Celeriac (process"));
  const prefork = rows.find((r) => r.name.includes("prefork"));
  if (processRow && prefork) console.log(`\nCeleriac process pool c=2 / Celery prefork -c 2, processing: ${ratio(processRow.processing, prefork.processing)}`);
  console.log(`\n${floor}`);
  console.log(`\n${eta}`);
}
