// What the dashboard knows of the cluster: the event stream folded into a
// State and a TaskSeries, what live workers say of themselves when inspected
// (pool, queues, prefetch), and the measured depth of every queue seen.
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import type { CeleryEvent } from "../events/event.js";
import { State, workerAlive, type TaskState, type WorkerState } from "../events/state.js";
import type { WorkerLoad } from "./metrics.js";
import { TaskSeries } from "./series.js";

/** What the dashboard knows of a worker beyond its heartbeats, from inspect. */
interface WorkerInfo {
  pool: string | null;
  concurrency: number | null;
  queues: string[];
  prefetchLimit: number | null;
  prefetched: number;
  uptime: number | null;
  pid: number | null;
}

const MAX_TASKS = 20_000;
const SERIES_BUCKETS = 360;

export class ClusterView {
  readonly state = new State({ maxTasks: MAX_TASKS });
  readonly series: TaskSeries;
  readonly depths = new Map<string, number>();
  private readonly workerInfo = new Map<string, WorkerInfo>();
  private readonly queues = new Set<string>();
  /** Tasks changed since the last takeChanged(), for live pages. */
  private readonly changed = new Map<string, TaskState>();

  constructor(
    private readonly app: Celeriac,
    bucketSeconds: number,
  ) {
    this.series = new TaskSeries(bucketSeconds, SERIES_BUCKETS);
    this.queues.add(app.settings.taskDefaultQueue);
  }

  /** Folds one event in; returns the task it changed, if any. */
  observe(e: CeleryEvent): TaskState | null {
    const change = this.state.event(e);
    if (change?.kind !== "task") return null;
    const t = change.task;
    this.changed.set(t.uuid, t);
    if (t.queue) this.queues.add(t.queue);
    if (e.type === "task-succeeded") this.series.record("succeeded", e.timestamp, typeof e.runtime === "number" ? e.runtime : null);
    if (e.type === "task-failed") this.series.record("failed", e.timestamp, null);
    return t;
  }

  /** The tasks changed since the last call (at most the last `max`). */
  takeChanged(max: number): TaskState[] {
    const tasks = [...this.changed.values()].slice(-max);
    this.changed.clear();
    return tasks;
  }

  /** Asks live workers for pool, queues and prefetch, forgets dead ones, and measures every known queue. */
  async refresh(broker: Broker): Promise<void> {
    const alive = [...this.state.workers.values()].filter((w) => workerAlive(w));
    if (alive.length) {
      const opts = { timeout: 1500, limit: alive.length };
      const ask = (m: string) => this.app.control.broadcast(m, {}, { reply: true, ...opts }).catch(() => []);
      const [stats, queues, reserved] = await Promise.all([ask("stats"), ask("active_queues"), ask("reserved")]);
      const merged = (replies: Record<string, unknown>[]) => Object.assign({}, ...replies) as Record<string, unknown>;
      const s = merged(stats);
      const q = merged(queues);
      const r = merged(reserved);
      for (const w of alive) {
        const st = (s[w.hostname] ?? {}) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
        const qs = Array.isArray(q[w.hostname]) ? (q[w.hostname] as { name: string }[]).map((x) => x.name) : (this.workerInfo.get(w.hostname)?.queues ?? []);
        for (const name of qs) this.queues.add(name);
        const nReserved = Array.isArray(r[w.hostname]) ? (r[w.hostname] as unknown[]).length : 0;
        this.workerInfo.set(w.hostname, {
          // Celeriac names its pool; Python Celery's stats give only the size.
          pool: st.pool?.implementation ?? null,
          concurrency: st.pool?.["max-concurrency"] ?? null,
          queues: qs,
          prefetchLimit: typeof st.prefetch_count === "number" ? st.prefetch_count : null,
          prefetched: nReserved + (w.active ?? 0),
          uptime: typeof st.uptime === "number" ? st.uptime : null,
          pid: typeof st.pid === "number" ? st.pid : w.pid,
        });
      }
    }
    for (const [host] of this.workerInfo) {
      const w = this.state.workers.get(host);
      if (!w || !workerAlive(w)) this.workerInfo.delete(host);
    }
    await this.measureQueues(broker);
  }

  async measureQueues(broker: Broker): Promise<void> {
    for (const q of this.queues) this.depths.set(q, await broker.size(q).catch(() => this.depths.get(q) ?? 0));
  }

  /** A worker's pool size changed by remote control: show it before the next refresh. */
  setConcurrency(host: string, size: number): void {
    const info = this.workerInfo.get(host);
    if (info) info.concurrency = size;
  }

  workerLoads(): Map<string, WorkerLoad> {
    const m = new Map<string, WorkerLoad>();
    for (const [host, info] of this.workerInfo) m.set(host, { prefetched: info.prefetched, prefetchLimit: info.prefetchLimit });
    return m;
  }

  onlineCount(): number {
    return [...this.state.workers.values()].filter((w) => workerAlive(w)).length;
  }

  workers(): Record<string, unknown>[] {
    const now = Date.now() / 1000;
    return [...this.state.workers.values()]
      .sort((a, b) => a.hostname.localeCompare(b.hostname))
      .map((w: WorkerState) => {
        const info = this.workerInfo.get(w.hostname);
        return {
          hostname: w.hostname, online: workerAlive(w, now), pid: w.pid, active: w.active, processed: w.processed,
          loadavg: w.loadavg, sw: w.sw_ident ? `${w.sw_ident} ${w.sw_ver ?? ""}`.trim() : null, sw_sys: w.sw_sys,
          lastHeartbeat: w.heartbeats[w.heartbeats.length - 1] ?? null, freq: w.freq,
          pool: info?.pool ?? null, concurrency: info?.concurrency ?? null, queues: info?.queues ?? [],
          prefetched: info?.prefetched ?? null, prefetchLimit: info?.prefetchLimit ?? null, uptime: info?.uptime ?? null,
        };
      });
  }

  queueRows(workers = this.workers()): Record<string, unknown>[] {
    const consumers = (name: string) => workers.filter((w) => w.online && (w.queues as string[]).includes(name)).length;
    return [...this.queues].sort().map((name) => ({ name, depth: this.depths.get(name) ?? null, consumers: consumers(name) }));
  }

  overview(brokerUrl: string): Record<string, unknown> {
    const byState: Record<string, number> = {};
    for (const t of this.state.tasks.values()) byState[t.state] = (byState[t.state] ?? 0) + 1;
    const points = this.series.points(Date.now() / 1000, 60);
    const lastMinute = points.slice(-Math.ceil(60 / this.series.bucketSeconds));
    const workers = this.workers();
    return {
      broker: brokerUrl,
      summary: {
        workersOnline: workers.filter((w) => w.online).length,
        workersTotal: workers.length,
        tasksSeen: this.state.taskCount,
        events: this.state.eventCount,
        byState,
        perMinute: lastMinute.reduce((s, p) => s + p.succeeded + p.failed, 0),
      },
      workers,
      queues: this.queueRows(workers),
      series: { bucketSeconds: this.series.bucketSeconds, points },
      names: this.state.taskNames(),
    };
  }
}
