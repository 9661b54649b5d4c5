// Embedded brokers: enqueue rate, processing rate of one worker process, and
// delay→get round trip, on sqlite (a worker process) and memory (in-process).
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Celeriac, Worker } from "../src/index.js";
import { latencies, noopRoundTrips, printTable, rate, roundTripsFrom, ROOT, startCeleriacWorker, stopProcess, treeRssKb } from "./util.js";

const N = Number(process.env.BENCH_N ?? 20_000);
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 500);

async function enqueue(app: Celeriac, n: number): Promise<number> {
  const t0 = performance.now();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < n; i++) sends.push(app.sendTask("bench.noop", []).sent);
  await Promise.all(sends);
  return rate(n, performance.now() - t0);
}

async function sqliteRow(pool: "async" | "process" | "thread", concurrency: number): Promise<(string | number)[]> {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-bench-"));
  const url = `sqlite://${join(dir, "bench.db")}`;
  try {
    const app = new Celeriac({ name: "bench", broker: url, backend: url });
    await app.backend(); // creates the results table
    const enq = await enqueue(app, N);
    const db = new Database(join(dir, "bench.db"));
    const count = db.prepare("SELECT count(*) FROM celeriac_results").pluck();
    const env = { CELERIAC_BROKER_URL: url, CELERIAC_RESULT_BACKEND: url };
    const worker = await startCeleriacWorker(`${ROOT}/bench/app.mjs`, ["-P", pool, "-c", String(concurrency), "-l", "warning"], env);
    // Timed from "ready": worker start-up (loading TypeScript, forking children) is not processing.
    const t0 = performance.now();
    let loadRss = 0;
    while ((count.get() as number) < N) {
      loadRss = Math.max(loadRss, treeRssKb(worker.pid!));
      await new Promise((r) => setTimeout(r, 20));
    }
    const processed = rate(N, performance.now() - t0);
    const rt = latencies(await roundTripsFrom("celeriac", "celery", ROUND_TRIPS, { BENCH_BROKER_URL: url, BENCH_BACKEND_URL: url, BENCH_TASK: "bench.noop" }));
    await new Promise((r) => setTimeout(r, 500));
    const rss = treeRssKb(worker.pid!);
    await stopProcess(worker);
    db.close();
    await app.close();
    return [`sqlite, ${pool} pool x${concurrency}`, enq, processed, rt.p50, rt.p99, rss / 1024, loadRss / 1024];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function memoryRow(): Promise<(string | number)[]> {
  const url = "memory://bench";
  const app = new Celeriac({ name: "bench", broker: url, backend: url });
  app.task("bench.noop", () => null);
  const enq = await enqueue(app, N);
  const worker = new Worker(app, { pool: "async", concurrency: 100 });
  const backend = await app.backend();
  const last = app.sendTask("bench.noop", []);
  const t0 = performance.now();
  await worker.start();
  await backend.waitFor(last.id);
  const processed = rate(N + 1, performance.now() - t0);
  const rt = await noopRoundTrips(app, ROUND_TRIPS, 10_000);
  await worker.stop();
  return ["memory, async pool (in-process)", enq, processed, rt.p50, rt.p99, "-", "-"];
}

export async function run(): Promise<void> {
  process.env.CELERIAC_LOG_LEVEL = "warn";
  console.log(
    `${N} no-op tasks; ${ROUND_TRIPS} sequential delay→get round trips (sqlite: from a producer process of its own, after ${Number(process.env.BENCH_WARM_UP_MS ?? 3000) / 1000} s of unmeasured ones)`,
  );
  // BENCH_SQLITE_ROWS=async,process: only these rows (of async, process, thread, memory).
  const only = process.env.BENCH_SQLITE_ROWS?.split(",");
  const all: [string, () => Promise<(string | number)[]>][] = [
    ["async", () => sqliteRow("async", 100)],
    ["process", () => sqliteRow("process", 2)],
    ["thread", () => sqliteRow("thread", 2)],
    ["memory", memoryRow],
  ];
  const rows: (string | number)[][] = [];
  for (const [name, row] of all) if (!only || only.includes(name)) rows.push(await row());
  printTable(["broker / pool", "enqueue tasks/s", "processing tasks/s", "round trip p50 ms", "p99 ms", "worker RSS idle MB", "under load MB"], rows);
}
