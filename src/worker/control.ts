// What remote control can see and change of a worker (Celery's
// worker/control.py), read through a narrow view of it: inspect answers,
// revoke, rate and time limits, consumers, pool size, events, shutdown.
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import { Topology, type QueueSpec } from "../brokers/amqp/topology.js";
import type { Settings } from "../config.js";
import { displaySettings } from "../settings-display.js";
import { forwardClock } from "../events/dispatcher.js";
import type { Logger } from "../log.js";
import type { TaskOptions } from "../task.js";
import { VERSION } from "../version.js";
import type { Dispatcher } from "./dispatcher.js";
import type { Job, TaskCounts } from "./job.js";
import type { Pool } from "./pool.js";
import type { Controllable } from "./remote-control.js";
import type { RevokedSet } from "./revoked.js";
import type { TaskEvents } from "./task-events.js";

/** The parts of a worker remote control reads and acts on. */
export interface ControlView {
  readonly app: Celeriac;
  readonly hostname: string;
  /** The queues consumed: add_consumer and cancel_consumer change this list in place. */
  readonly queues: string[];
  readonly poolKind: Pool["kind"];
  readonly prefetchLimit: number;
  readonly counts: TaskCounts;
  /** When the worker was made (ms since the epoch). */
  readonly startedAt: number;
  readonly revoked: RevokedSet;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  pool(): Pool;
  broker(): Broker;
  events(): TaskEvents | null;
  /** Asks the worker to stop warmly (the shutdown command). */
  shutdown(): void;
}

/** The pool's autoscaler as remote control sees it (the CLI's --autoscale). */
export interface AutoscaleBounds {
  readonly range: { max: number; min: number };
  setRange(range: { max: number; min: number }): void;
}

export class WorkerControl implements Controllable {
  /** Set when the worker autoscales its pool: `autoscale` changes its bounds. */
  autoscaler: AutoscaleBounds | null = null;

  constructor(private readonly w: ControlView) {}

  get hostname(): string {
    return this.w.hostname;
  }

  revoke(ids: string[], terminate: boolean): string[] {
    this.w.revoked.add(ids);
    const pool = this.w.pool();
    const terminated = terminate ? ids.filter((id) => pool.terminate(id)) : [];
    // One waiting in a pool child's window is taken back, so it is not run there.
    for (const id of ids) if (!terminated.includes(id)) pool.withdraw?.(id);
    // A revoked job still reserved is settled now, not when a slot frees up.
    this.w.dispatcher.dispatch();
    return terminated;
  }

  revokedIds(): string[] {
    return this.w.revoked.list();
  }

  private jobInfo(job: Job): Record<string, unknown> {
    const r = job.request;
    return {
      id: r.id,
      name: r.task,
      args: r.args,
      kwargs: r.kwargs,
      type: r.task,
      hostname: this.w.hostname,
      time_start: job.timeStart ?? null,
      acknowledged: job.acked,
      delivery_info: r.deliveryInfo,
      worker_pid: process.pid,
    };
  }

  activeInfo(): unknown[] {
    return [...this.w.dispatcher.active.values()].map((j) => this.jobInfo(j));
  }

  reservedInfo(): unknown[] {
    return this.w.dispatcher.reserved.map((j) => this.jobInfo(j));
  }

  registered(items?: string[], builtins = false): string[] {
    const names = [...this.w.app.tasks.keys()].filter((n) => builtins || !n.startsWith("celery.")).sort();
    if (!items?.length) return names;
    return names.map((name) => {
      const task = this.w.app.tasks.get(name)!;
      const fields = items.map((item) => [item, taskAttribute(name, task.options, item)] as const).filter(([, v]) => v !== undefined && v !== null);
      return fields.length ? `${name} [${fields.map(([k, v]) => `${k}=${String(v)}`).join(" ")}]` : name;
    });
  }

  queryTask(ids: string[]): Record<string, [string, unknown]> {
    const out: Record<string, [string, unknown]> = {};
    const { active, reserved } = this.w.dispatcher;
    for (const id of ids) {
      const running = active.get(id);
      if (running) {
        out[id] = ["active", this.jobInfo(running)];
        continue;
      }
      const waiting = reserved.find((j) => j.request.id === id);
      if (waiting) out[id] = ["reserved", this.jobInfo(waiting)];
    }
    return out;
  }

  clock(): number {
    return forwardClock();
  }

  report(): string {
    const conf = Object.entries(this.conf(false))
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join("\n");
    return (
      `software -> celeriac:${VERSION} (celery:5.2.6 wire protocol) node:${process.version}\n` +
      `platform -> system:${process.platform} arch:${process.arch}\n` +
      `broker -> ${this.w.broker().displayUrl}\n\n${conf}\n`
    );
  }

  conf(withDefaults: boolean): Record<string, unknown> {
    return displaySettings(this.w.app.settings, withDefaults);
  }

  stats(): Record<string, unknown> {
    return {
      total: Object.fromEntries(this.w.dispatcher.processedByName),
      pid: process.pid,
      uptime: Math.round((Date.now() - this.w.startedAt) / 1000),
      pool: { implementation: this.w.poolKind, "max-concurrency": this.w.pool().size, processes: this.w.pool().processes?.() ?? [] },
      prefetch_count: this.w.prefetchLimit,
      ...(this.autoscaler ? { autoscaler: { ...this.autoscaler.range } } : {}),
      broker: { url: this.w.broker().displayUrl },
      rusage: { maxrss: Math.round(process.memoryUsage.rss() / 1024) },
      counts: { ...this.w.counts },
    };
  }

  activeQueues(): unknown[] {
    return this.w.queues.map((q) => queueDescription(q, this.w.app.settings));
  }

  addConsumer(queue: string): void {
    if (!this.w.queues.includes(queue)) this.w.queues.push(queue);
    this.w.log.info(`now consuming from ${queue}`);
  }

  cancelConsumer(queue: string): void {
    const i = this.w.queues.indexOf(queue);
    // Even the last one, as Celery does: that is how a queue is paused (add_consumer resumes it).
    if (i >= 0) this.w.queues.splice(i, 1);
    this.w.log.info(`no longer consuming from ${queue}`);
  }

  setRateLimit(taskName: string, rate: string | null): void {
    this.w.dispatcher.rateGate.setRate(taskName, rate);
    this.w.dispatcher.dispatch();
  }

  setTimeLimit(taskName: string, soft: number | null, hard: number | null): void {
    this.w.dispatcher.timeLimits.set(taskName, { soft, hard });
  }

  poolResize(delta: number): { size: number; ready: Promise<void> } {
    const pool = this.w.pool();
    const size = Math.max(1, pool.size + delta);
    const ready = pool.resize(size).then(
      () => this.w.dispatcher.dispatch(),
      (err: Error) => this.w.log.error(`pool resize to ${size} failed: ${err.message}`),
    );
    return { size, ready };
  }

  autoscale(max: number, min: number): { max: number; min: number } {
    if (!this.autoscaler) throw new Error("autoscale is not enabled on this worker (start it with --autoscale MAX,MIN)");
    if (!Number.isInteger(max) || !Number.isInteger(min) || min < 1 || max < min)
      throw new Error(`autoscale wants whole numbers with 1 <= min <= max, got max=${max} min=${min}`);
    this.autoscaler.setRange({ max, min });
    this.w.log.info(`autoscale: now between ${min} and ${max}`);
    return { max, min };
  }

  poolRestart(): number {
    const pool = this.w.pool();
    if (!pool.restart) throw new Error(`the ${pool.kind} pool has no children to restart`);
    return pool.restart();
  }

  setTaskEvents(on: boolean): void {
    this.w.events()?.setTaskEvents(on);
  }

  shutdown(): void {
    this.w.shutdown();
  }
}

/** Celery's name for a task attribute (inspect registered's taskinfoitems), read from the task's options. */
function taskAttribute(name: string, o: TaskOptions, item: string): unknown {
  const byCeleryName: Record<string, unknown> = {
    name,
    rate_limit: o.rateLimit,
    queue: o.queue,
    exchange: o.exchange,
    routing_key: o.routingKey,
    priority: o.priority,
    max_retries: o.maxRetries,
    default_retry_delay: o.defaultRetryDelay,
    acks_late: o.acksLate,
    ignore_result: o.ignoreResult,
    time_limit: o.timeLimit,
    soft_time_limit: o.softTimeLimit,
    serializer: o.serializer,
    track_started: o.trackStarted,
    expires: o.expires,
  };
  return byCeleryName[item];
}

/**
 * A consumed queue as kombu describes it (Queue.as_dict(recurse=True)): what
 * `inspect active_queues` answers; the exchange and binding are the ones the
 * AMQP broker declares for it (one Topology serves both).
 */
function queueDescription(queue: string, s: Settings): Record<string, unknown> {
  let spec: QueueSpec;
  try {
    spec = new Topology(s).queue(queue);
  } catch {
    // Not declared, and missing queues are not created: described as Celery's Queues.new_missing would make it.
    spec = { name: queue, durable: true, arguments: {}, exchange: queue, exchangeType: "direct", routingKey: queue, quorum: false };
  }
  const maxPriority = spec.arguments["x-max-priority"];
  return {
    alias: null,
    auto_delete: false,
    binding_arguments: null,
    bindings: [],
    consumer_arguments: null,
    durable: spec.durable,
    exchange: {
      arguments: null,
      auto_delete: false,
      delivery_mode: null,
      durable: true,
      name: spec.exchange,
      no_declare: false,
      passive: false,
      type: spec.exchangeType,
    },
    exclusive: false,
    expires: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: typeof maxPriority === "number" ? maxPriority : null,
    message_ttl: null,
    name: queue,
    no_ack: false,
    no_declare: null,
    queue_arguments: Object.keys(spec.arguments).length ? spec.arguments : null,
    routing_key: spec.routingKey,
  };
}
