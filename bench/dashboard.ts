// The dashboard with a large history (BENCH_HISTORY tasks, default 100,000):
// start-up (the history read back into memory), the task list's first page, a
// filtered search and a state filter over the JSON API, and, where Debian's
// Chromium is installed, the page's first render and a search typed in it.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Celeriac } from "../src/index.js";
import { Dashboard } from "../src/dashboard/index.js";
import { TaskHistory } from "../src/dashboard/history.js";
import type { TaskState } from "../src/events/state.js";
import { printTable } from "./util.js";

const N = Number(process.env.BENCH_HISTORY ?? 100_000);
const CHROMIUM = "/usr/bin/chromium";

function syntheticTask(i: number, now: number): TaskState {
  const state = i % 50 === 0 ? "FAILURE" : "SUCCESS";
  const at = now - (N - i) * 0.5;
  return {
    uuid: randomUUID(),
    name: `bench.task${i % 20}`,
    state,
    sent: at - 0.01,
    received: at - 0.01,
    started: at - 0.005,
    succeeded: state === "SUCCESS" ? at : null,
    failed: state === "FAILURE" ? at : null,
    retried: null,
    revoked: null,
    rejected: null,
    args: `(${i}, 'customer-${i % 997}')`,
    kwargs: "{}",
    eta: null,
    expires: null,
    retries: 0,
    worker: `w${i % 4}@bench`,
    result: state === "SUCCESS" ? `{'ok': ${i}}` : null,
    exception: state === "FAILURE" ? `ValueError('order ${i} refused')` : null,
    traceback: null,
    runtime: 0.004,
    timestamp: at,
    root_id: null,
    parent_id: null,
    queue: "celery",
    exchange: null,
    routing_key: null,
    clock: i,
    children: [],
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-bench-dash-"));
  const file = join(dir, "history.db");
  try {
    const seed = new TaskHistory({ path: file, maxTasks: N });
    seed.open();
    const now = Date.now() / 1000;
    const [seedMs] = await timed(async () => {
      for (let i = 0; i < N; i += 5000) seed.save(Array.from({ length: Math.min(5000, N - i) }, (_, j) => syntheticTask(i + j, now)));
    });
    seed.close();
    const app = new Celeriac({ name: "bench-dash", broker: `memory://bench-${randomUUID()}`, backend: `memory://bench-${randomUUID()}` });
    const dashboard = new Dashboard(app, { port: 0, history: file, historyMaxTasks: N });
    const [startMs, base] = await timed(() => dashboard.start());
    const get = async (path: string) => {
      const res = await fetch(`${base}${path}`);
      return (await res.json()) as { total: number; tasks: unknown[] };
    };
    await get("/api/tasks?limit=100"); // warm
    const rows: (string | number)[][] = [["save history (5,000 a transaction)", seedMs, N]];
    rows.push(["dashboard start (history read into memory)", startMs, 20_000]);
    for (const [label, path] of [
      ["GET /api/tasks first page (100)", "/api/tasks?limit=100"],
      ["GET /api/tasks page 500 (offset 50,000)", "/api/tasks?limit=100&offset=50000"],
      ["GET /api/tasks?search= (substring of args)", "/api/tasks?limit=100&search=customer-123'"],
      ["GET /api/tasks?state=FAILURE", "/api/tasks?limit=100&state=FAILURE"],
      ["GET /api/tasks?search=&state= (both)", "/api/tasks?limit=100&state=FAILURE&search=refused"],
    ] as const) {
      const times: number[] = [];
      let total = 0;
      for (let k = 0; k < 5; k++) {
        const [ms, body] = await timed(() => get(path));
        times.push(ms);
        total = body.total;
      }
      times.sort((a, b) => a - b);
      rows.push([label, times[2]!, total]);
    }
    if (existsSync(CHROMIUM)) {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launchPersistentContext(mkdtempSync(join(dir, "chromium-")), {
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
      const page = await browser.newPage();
      const [renderMs] = await timed(async () => {
        await page.goto(`${base}/`);
        await page.waitForSelector("[data-testid=task-row]");
      });
      rows.push(["page: first render with tasks (Chromium)", renderMs, 100]);
      const [searchMs] = await timed(async () => {
        await page.fill("[data-testid=filter-search]", "order 4950 refused");
        await page.waitForFunction(() => document.querySelectorAll("[data-testid=task-row]").length === 1);
      });
      rows.push(["page: search typed until its one row shows (incl. 150 ms debounce)", searchMs, 1]);
      await browser.close();
    }
    await dashboard.close();
    await app.close();
    printTable(["step", "ms (median of 5 for API calls)", "tasks"], rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
