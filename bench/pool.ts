// The process pool alone, no broker: how fast tasks cross to a pool child and
// back. `npm run bench -- pool`. Two figures per pool size:
// - rate: BENCH_POOL_N no-op tasks kept in flight as the dispatcher does (a
//   new one handed over as soon as the pool has room), tasks/s;
// - round trip: one task at a time (BENCH_POOL_ROUND_TRIPS of them), µs from
//   handing it over to its outcome, p50 and p99.
import { fileURLToPath } from "node:url";
import { IsolatedPool } from "../src/worker/pools/isolated.js";
import { createLogger } from "../src/log.js";
import { localRequest, type TaskRequest } from "../src/task.js";
import { latencies, printTable, rate } from "./util.js";

const N = Number(process.env.BENCH_POOL_N ?? 50_000);
const ROUND_TRIPS = Number(process.env.BENCH_POOL_ROUND_TRIPS ?? 5000);
const APP = fileURLToPath(new URL("./app.mjs", import.meta.url));

function request(i: number): TaskRequest {
  return localRequest(`bench-${i}`, "bench.noop", [], { hostname: "bench", origin: "bench" });
}

async function row(kind: "process" | "thread", size: number): Promise<(string | number)[]> {
  const pool = new IsolatedPool({ kind, size, appModule: APP, log: createLogger("bench", "fatal") });
  await pool.start();
  try {
    let sent = 0;
    let done = 0;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const fill = () => {
        while (sent < N && pool.idle() > 0) {
          void pool.run({ request: request(sent++), hardTimeLimit: null }).then(() => {
            if (++done === N) resolve();
            else fill();
          });
        }
      };
      pool.onIdle = fill;
      fill();
    });
    const tasksPerSecond = rate(N, performance.now() - t0);
    pool.onIdle = null;
    const times: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const t = performance.now();
      await pool.run({ request: request(N + i), hardTimeLimit: null });
      times.push((performance.now() - t) * 1000);
    }
    const rt = latencies(times);
    return [`${kind} pool x${size}`, tasksPerSecond, Math.round(rt.p50), Math.round(rt.p99)];
  } finally {
    await pool.close(true);
  }
}

export async function run(): Promise<void> {
  console.log(`${N} no-op tasks kept in flight, then ${ROUND_TRIPS} one at a time; the pool alone (no broker, no results)`);
  const rows = [await row("process", 2), await row("process", 1), await row("thread", 2)];
  printTable(["pool", "tasks/s", "round trip p50 µs", "p99 µs"], rows);
}
