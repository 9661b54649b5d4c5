// Prometheus metrics for the cluster, built from events and the broker:
// served at /metrics by the dashboard. A registry of its own, so an app that
// uses prom-client's global registry keeps its metrics apart.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CeleryEvent } from "../events/event.js";
import { workerAlive, type State, type TaskState } from "../events/state.js";

export interface WorkerLoad {
  /** Messages the worker holds: reserved (prefetched) plus running. */
  prefetched: number;
  /** How many it may hold (prefetch multiplier x concurrency). */
  prefetchLimit: number | null;
}

export interface MetricsSources {
  state: State;
  /** Ready messages per queue, as last measured. */
  queueDepths(): Map<string, number>;
  /** Per worker, from the last inspect round. */
  workerLoads(): Map<string, WorkerLoad>;
}

const STATE_OF: Record<string, string> = {
  "task-sent": "PENDING",
  "task-received": "RECEIVED",
  "task-started": "STARTED",
  "task-succeeded": "SUCCESS",
  "task-failed": "FAILURE",
  "task-retried": "RETRY",
  "task-revoked": "REVOKED",
  "task-rejected": "REJECTED",
};

export class ClusterMetrics {
  readonly registry = new Registry();
  private readonly tasks: Counter<"name" | "state">;
  private readonly runtime: Histogram<"name">;
  private readonly retries: Counter<"name">;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.tasks = new Counter({
      name: "celeriac_tasks_total",
      help: "Task state changes seen in events, by task name and state",
      labelNames: ["name", "state"],
      registers,
    });
    this.runtime = new Histogram({
      name: "celeriac_task_runtime_seconds",
      help: "Runtime of succeeded tasks, by task name",
      labelNames: ["name"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.retries = new Counter({ name: "celeriac_task_retries_total", help: "Task retries, by task name", labelNames: ["name"], registers });
    new Gauge({
      name: "celeriac_queue_depth",
      help: "Messages ready in a queue",
      labelNames: ["queue"],
      registers,
      collect() {
        this.reset();
        for (const [q, n] of sources.queueDepths()) this.set({ queue: q }, n);
      },
    });
    new Gauge({
      name: "celeriac_workers_online",
      help: "Workers whose heartbeats are current",
      registers,
      collect() {
        this.set([...sources.state.workers.values()].filter((w) => workerAlive(w)).length);
      },
    });
    new Gauge({
      name: "celeriac_worker_active_tasks",
      help: "Tasks running on a worker (from its heartbeat)",
      labelNames: ["worker"],
      registers,
      collect() {
        this.reset();
        for (const w of sources.state.workers.values()) if (workerAlive(w)) this.set({ worker: w.hostname }, w.active ?? 0);
      },
    });
    new Gauge({
      name: "celeriac_worker_prefetched_tasks",
      help: "Messages a worker holds (reserved + running): prefetch in use",
      labelNames: ["worker"],
      registers,
      collect() {
        this.reset();
        for (const [w, load] of sources.workerLoads()) this.set({ worker: w }, load.prefetched);
      },
    });
    new Gauge({
      name: "celeriac_worker_prefetch_limit",
      help: "Messages a worker may hold (prefetch multiplier x concurrency)",
      labelNames: ["worker"],
      registers,
      collect() {
        this.reset();
        for (const [w, load] of sources.workerLoads()) if (load.prefetchLimit !== null) this.set({ worker: w }, load.prefetchLimit);
      },
    });
  }

  /** Counts one event; `task` is the task's state after the event was folded in (for its name). */
  observe(e: CeleryEvent, task: TaskState | null): void {
    const state = STATE_OF[e.type];
    if (!state) return;
    const name = task?.name ?? (typeof e.name === "string" ? e.name : "unknown");
    this.tasks.inc({ name, state });
    if (e.type === "task-succeeded" && typeof e.runtime === "number") this.runtime.observe({ name }, e.runtime);
    if (e.type === "task-retried") this.retries.inc({ name });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
