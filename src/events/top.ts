// The live terminal view of `celeriac events`: workers and the latest tasks,
// redrawn in place. Plain ANSI, no curses: it works over ssh and in CI logs.
import { States } from "../states.js";
import { workerAlive, type State } from "./state.js";

const COLORS: Record<string, string> = {
  [States.SUCCESS]: "\x1b[32m",
  [States.FAILURE]: "\x1b[31m",
  [States.REVOKED]: "\x1b[35m",
  [States.RETRY]: "\x1b[33m",
  [States.STARTED]: "\x1b[36m",
};
const RESET = "\x1b[0m";

function pad(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n);
}

function clock(ts: number | null): string {
  return ts ? new Date(ts * 1000).toISOString().slice(11, 19) : "--:--:--";
}

/** The screen as text; `color` adds ANSI colors to states. */
export function renderTop(state: State, opts: { width?: number; rows?: number; color?: boolean; brokerUrl?: string } = {}): string {
  const width = Math.max(60, opts.width ?? 100);
  const rows = Math.max(5, opts.rows ?? 30);
  const now = Date.now() / 1000;
  const lines: string[] = [];
  const workers = [...state.workers.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
  const online = workers.filter((w) => workerAlive(w, now));
  lines.push(
    `celeriac events${opts.brokerUrl ? ` — ${opts.brokerUrl}` : ""} — ${online.length}/${workers.length} workers online, ${state.eventCount} events, ${state.taskCount} tasks`,
  );
  lines.push("");
  lines.push(`${pad("WORKER", 34)} ${pad("STATUS", 8)} ${pad("ACTIVE", 7)} ${pad("PROCESSED", 10)} LOAD`);
  for (const w of workers) {
    const alive = workerAlive(w, now);
    const status = alive ? "online" : "offline";
    const st = opts.color ? `${alive ? "\x1b[32m" : "\x1b[90m"}${pad(status, 8)}${RESET}` : pad(status, 8);
    lines.push(`${pad(w.hostname, 34)} ${st} ${pad(String(w.active ?? "-"), 7)} ${pad(String(w.processed ?? "-"), 10)} ${(w.loadavg ?? []).join(" ")}`);
  }
  if (!workers.length) lines.push("(no worker seen yet: workers send a heartbeat every 2 s)");
  lines.push("");
  const nameW = Math.max(16, Math.floor((width - 62) / 2));
  lines.push(`${pad("TIME", 9)}${pad("TASK ID", 37)}${pad("NAME", nameW)} ${pad("STATE", 9)} ${"INFO"}`);
  const room = Math.max(3, rows - lines.length - 1);
  for (const t of state.tasksList({ limit: room })) {
    const info = t.state === States.SUCCESS ? `${t.result ?? ""} (${(t.runtime ?? 0).toFixed(3)}s)` : (t.exception ?? t.args ?? "");
    const st = opts.color ? `${COLORS[t.state] ?? ""}${pad(t.state, 9)}${RESET}` : pad(t.state, 9);
    const line = `${pad(clock(t.timestamp), 9)}${pad(t.uuid, 37)}${pad(t.name ?? "?", nameW)} ${st} ${info}`;
    lines.push(line.length > width + 20 ? line.slice(0, width + 20) : line);
  }
  return lines.join("\n");
}
