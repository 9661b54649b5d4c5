// Shared helpers for benchmarks: timing, percentiles, worker processes, tables.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Celeriac } from "../src/index.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

/**
 * Sequential delay→get round trips from a producer process of its own
 * (bench/roundtrip.mjs, on the built package, after its warm-up): the times
 * of the `n` measured ones, ms. `env` names the broker and backend.
 */
export function roundTripsFrom(system: "celeriac" | "bullmq" | "raw", queue: string, n: number, env: Record<string, string>): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["bench/roundtrip.mjs", system, queue, String(n)],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 1 << 26 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`bench/roundtrip.mjs ${system} failed: ${err.message}\n${stderr.slice(-2000)}`));
        else resolve((JSON.parse(stdout) as { samples_ms: number[] }).samples_ms);
      },
    );
  });
}

/** `n` sequential delay→get round trips of the no-op task in this process (for the in-process memory broker): p50 and p99, ms. */
export async function noopRoundTrips(app: Celeriac, n: number, timeout: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await app.sendTask("bench.noop", []).get({ timeout });
    times.push(performance.now() - t0);
  }
  return latencies(times);
}

/** p50 and p99 of unsorted samples. */
export function latencies(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/** Starts a Celeriac worker process; resolves once it is ready. */
export function startCeleriacWorker(appModule: string, args: string[], env: Record<string, string>): Promise<ChildProcess> {
  const p = spawn(process.execPath, [`${ROOT}/bin/celeriac.js`, "-A", appModule, "worker", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (b: Buffer) => {
      out += b.toString();
      if (/ ready: /.test(out)) resolve(p);
    };
    p.stdout!.on("data", onData);
    p.stderr!.on("data", onData);
    p.on("exit", (code) => reject(new Error(`worker exited (${code}): ${out}`)));
  });
}

export async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await new Promise((r) => p.once("exit", r));
  clearTimeout(t);
}

/** Resident memory of a process in KB, from /proc. */
export function rssKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Resident memory of a process and its descendants (pool children) in KB. */
export function treeRssKb(pid: number): number {
  let total = rssKb(pid);
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean)) total += treeRssKb(Number(child));
  } catch {
    // Gone, or no children file.
  }
  return total;
}

export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (typeof c === "number" ? (Number.isFinite(c) ? c.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "n/a") : c))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(cells[0]!));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of cells.slice(1)) console.log(line(r));
}
