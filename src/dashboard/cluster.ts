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
  /** The pool's autoscale bounds, when the worker autoscales. */
  autoscale: { max: number; min: number } | null;
}

/** Tasks kept in memory (the history keeps more). */
export const MAX_TASKS = 20_000;
/** Retries remembered per task. */
const MAX_ATTEMPTS = 50;

/** One failed attempt of a task that was retried. */
export interface RetryAttempt {
  time: number;
  exception: string | null;
  traceback: string | null;
}
const SERIES_BUCKETS = 360;
/** Depth samples kept per queue, one per refresh (at the default 3 s poll: 6 minutes). */
const DEPTH_SAMPLES = 120;

export class ClusterView {
  readonly state = new State({ maxTasks: MAX_TASKS });
  readonly series: TaskSeries;
  readonly depths = new Map<string, number>();
  /** Per queue, its depth at each refresh: [epoch s, depth], oldest first. */
  private readonly depthHistory = new Map<string, [number, number][]>();
  private readonly workerInfo = new Map<string, WorkerInfo>();
  private readonly queues = new Set<string>();
  /** Tasks changed since the last takeChanged(), for live pages. */
  private readonly changed = new Map<string, TaskState>();
  /** Tasks changed since the last takeUnsaved(), for the history store. */
  private readonly unsaved = new Map<string, TaskState>();

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
    if (e.type === "task-retried") {
      // Each attempt's error and time: the task's page lists them (Celery's State keeps only the last).
      const attempts = (t.attempts as RetryAttempt[] | undefined) ?? [];
      attempts.push({ time: e.timestamp, exception: t.exception, traceback: t.traceback });
      t.attempts = attempts.slice(-MAX_ATTEMPTS);
    }
    if (e.type === "task-succeeded") {
      // A retried task that then succeeded has no error any more: its retries keep theirs.
      t.exception = null;
      t.traceback = null;
    }
    this.changed.set(t.uuid, t);
    this.unsaved.set(t.uuid, t);
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

  /** The tasks changed since the last call, for the history store. */
  takeUnsaved(): TaskState[] {
    const tasks = [...this.unsaved.values()];
    this.unsaved.clear();
    return tasks;
  }

  /** Starts from the tasks kept from before a restart. */
  restore(tasks: readonly TaskState[]): void {
    this.state.restore(tasks);
    for (const t of tasks) if (t.queue) this.queues.add(t.queue);
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
          autoscale: st.autoscaler && typeof st.autoscaler.max === "number" ? { max: st.autoscaler.max, min: st.autoscaler.min } : null,
        });
      }
    }
    for (const [host] of this.workerInfo) {
      const w = this.state.workers.get(host);
      if (!w || !workerAlive(w)) this.workerInfo.delete(host);
    }
    await this.measureQueues(broker);
    const now = Math.round(Date.now() / 1000);
    for (const [q, depth] of this.depths) {
      const h = this.depthHistory.get(q) ?? [];
      h.push([now, depth]);
      if (h.length > DEPTH_SAMPLES) h.shift();
      this.depthHistory.set(q, h);
    }
  }

  queueNames(): string[] {
    return [...this.queues].sort();
  }

  /** Workers started or stopped consuming a queue by remote control: show it before the next refresh. */
  setConsuming(queue: string, on: boolean, hosts: readonly string[]): void {
    for (const host of hosts) {
      const info = this.workerInfo.get(host);
      if (!info) continue;
      info.queues = on ? [...new Set([...info.queues, queue])] : info.queues.filter((q) => q !== queue);
    }
  }

  async measureQueues(broker: Broker): Promise<void> {
    for (const q of this.queues) this.depths.set(q, await broker.size(q).catch(() => this.depths.get(q) ?? 0));
  }

  /** A worker's pool size changed by remote control: show it before the next refresh. */
  setConcurrency(host: string, size: number): void {
    const info = this.workerInfo.get(host);
    if (info) info.concurrency = size;
  }

  /** A worker's autoscale bounds changed by remote control: show them before the next refresh. */
  setAutoscale(host: string, bounds: { max: number; min: number }): void {
    const info = this.workerInfo.get(host);
    if (info) info.autoscale = bounds;
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
          hostname: w.hostname,
          online: workerAlive(w, now),
          pid: w.pid,
          active: w.active,
          processed: w.processed,
          loadavg: w.loadavg,
          sw: w.sw_ident ? `${w.sw_ident} ${w.sw_ver ?? ""}`.trim() : null,
          sw_sys: w.sw_sys,
          lastHeartbeat: w.heartbeats[w.heartbeats.length - 1] ?? null,
          freq: w.freq,
          pool: info?.pool ?? null,
          concurrency: info?.concurrency ?? null,
          queues: info?.queues ?? [],
          prefetched: info?.prefetched ?? null,
          prefetchLimit: info?.prefetchLimit ?? null,
          uptime: info?.uptime ?? null,
          autoscale: info?.autoscale ?? null,
        };
      });
  }

  queueRows(workers = this.workers()): Record<string, unknown>[] {
    const consumers = (name: string) => workers.filter((w) => w.online && (w.queues as string[]).includes(name)).length;
    return this.queueNames().map((name) => ({
      name,
      depth: this.depths.get(name) ?? null,
      consumers: consumers(name),
      history: this.depthHistory.get(name) ?? [],
    }));
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
