// The worker: takes messages from the broker, checks them, hands them to a
// pool, stores what came of them, and acks. Prefetched messages stay leased in
// the broker while they wait here, and the leases are renewed, so a worker that
// dies loses nothing and a slow task is not delivered twice.
//
// This file is the lifecycle and the wiring. The parts, in the order a message
// meets them: consumer.ts (the fetch-ahead loop), receipt.ts (the checks on
// arrival), dispatcher.ts (reserved jobs, pool slots, rate limits), the pool,
// acker.ts (one path per outcome, batched acks); beside them leases.ts (lease
// renewal), control.ts (what remote control sees) and task-events.ts.
import { EventEmitter } from "node:events";
import { hostname as osHostname } from "node:os";
import type { Celeriac } from "../app.js";
import type { Broker } from "../brokers/broker.js";
import type { ResultBackend } from "../backends/backend.js";
import { describeUrl } from "../url.js";
import { Acker } from "./acker.js";
import { Consumer } from "./consumer.js";
import { WorkerControl } from "./control.js";
import { Dispatcher } from "./dispatcher.js";
import type { TaskCounts } from "./job.js";
import { LeaseKeeper } from "./leases.js";
import type { Pool } from "./pool.js";
import { AsyncPool } from "./pools/async.js";
import { IsolatedPool } from "./pools/isolated.js";
import { Receipt } from "./receipt.js";
import { listenForControl } from "./remote-control.js";
import { ResultWriter } from "./results.js";
import { RevokedSet } from "./revoked.js";
import { TaskEvents } from "./task-events.js";

export interface WorkerOptions {
  queues?: string[];
  concurrency?: number;
  pool?: "process" | "thread" | "async";
  /** The module that defines the app; needed by the process and thread pools. */
  appModule?: string;
  /** Node name; %h is replaced by the host name. Default celeriac@<host>. */
  hostname?: string;
  prefetchMultiplier?: number;
  /** Worker-wide hard/soft time limits (seconds) for tasks without their own. */
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  maxTasksPerChild?: number | null;
  maxMemoryPerChild?: number | null;
  /** File that keeps the revoked ids across restarts (Celery's --statedb). */
  stateDb?: string | null;
  /** Ignore task rate limits. */
  disableRateLimits?: boolean;
  /** Send task events (-E); default: the workerSendTaskEvents setting. Worker heartbeats are sent either way. */
  taskEvents?: boolean;
  /** Send worker-online/heartbeat/offline events (default true; Celery's --without-heartbeat turns them off). */
  heartbeat?: boolean;
}

/** What a worker tells its owner. */
export interface WorkerEvents {
  /** Consuming: every part is up and remote control listens. */
  ready: [];
  /** Remote control asked for a shutdown (the worker has begun a warm stop). */
  "shutdown-requested": [];
  /** Stopped: nothing runs and nothing is held. */
  stopped: [];
}

/** Waits for a shutdown step, but at most `ms`; its failure is not the shutdown's. */
function bounded(step: Promise<unknown> | undefined, ms = 3000): Promise<unknown> {
  if (!step) return Promise.resolve();
  return Promise.race([step.catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())]);
}

export class Worker extends EventEmitter<WorkerEvents> {
  readonly hostname: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly poolKind: "process" | "thread" | "async";
  /** Tasks finished since start, by outcome. */
  readonly counts: TaskCounts = { processed: 0, succeeded: 0, failed: 0, retried: 0 };
  /** Events for monitors; null until started. */
  events: TaskEvents | null = null;
  /** What remote control sees and changes of this worker. */
  readonly control: WorkerControl;
  private broker!: Broker;
  private backend!: ResultBackend;
  private pool!: Pool;
  private readonly revoked: RevokedSet;
  private readonly acker: Acker;
  private readonly receipt: Receipt;
  private readonly dispatcher: Dispatcher;
  private readonly consumer: Consumer;
  private leases: LeaseKeeper | null = null;
  private stopControl: (() => Promise<void>) | null = null;
  private consuming: Promise<void> = Promise.resolve();
  private stopping = false;
  private finished: Promise<void> | null = null;

  constructor(
    private readonly app: Celeriac,
    private readonly opts: WorkerOptions = {},
  ) {
    super();
    const s = app.settings;
    const log = app.log;
    this.hostname = (opts.hostname ?? s.workerHostname ?? "celeriac@%h").replace("%h", osHostname());
    this.queues = opts.queues?.length ? opts.queues : [s.taskDefaultQueue];
    this.concurrency = opts.concurrency ?? s.workerConcurrency;
    this.poolKind = opts.pool ?? s.workerPool;
    this.revoked = new RevokedSet(opts.stateDb ?? s.workerStateDb);
    const broker = () => this.broker;
    const events = () => this.events;
    const results = new ResultWriter(app, () => this.backend, this.hostname);
    const common = { app, log, results, broker, events, counts: this.counts, hostname: this.hostname, revoked: this.revoked };
    this.acker = new Acker(common);
    this.receipt = new Receipt({ ...common, acker: this.acker, softTimeLimit: opts.softTimeLimit ?? null });
    this.dispatcher = new Dispatcher({
      ...common,
      acker: this.acker,
      timeLimit: opts.timeLimit ?? null,
      disableRateLimits: opts.disableRateLimits ?? false,
      roomFreed: () => this.consumer.roomFreed(),
    });
    const prefetchLimit = Math.max(this.concurrency, this.concurrency * (opts.prefetchMultiplier ?? s.workerPrefetchMultiplier));
    const dispatcher = this.dispatcher;
    this.consumer = new Consumer(
      {
        log,
        broker,
        queues: this.queues,
        held: () => dispatcher.held,
        hasReserved: () => dispatcher.reserved.length > 0,
        receive: (delivery) => {
          const job = this.receipt.check(delivery);
          if (job instanceof Promise) return job;
          dispatcher.reserve(job);
          return undefined;
        },
        received: () => dispatcher.dispatch(),
      },
      { prefetchLimit },
    );
    this.control = new WorkerControl({
      ...common,
      queues: this.queues,
      poolKind: this.poolKind,
      prefetchLimit,
      startedAt: Date.now(),
      dispatcher,
      pool: () => this.pool,
      shutdown: () => {
        this.emit("shutdown-requested");
        void this.stop(true);
      },
    });
  }

  get activeCount(): number {
    return this.dispatcher.active.size;
  }

  get reservedCount(): number {
    return this.dispatcher.reserved.length;
  }

  async start(): Promise<void> {
    try {
      [this.broker, this.backend] = await Promise.all([this.app.broker(), this.app.backend()]);
    } catch (err) {
      // Stopped while the first connection was still being retried (stop() closes the
      // app, which ends the retry with its last error): nothing to start, no failure.
      if (this.stopping) return;
      throw err;
    }
    if (this.stopping) return;
    this.pool = this.createPool();
    await this.pool.start();
    this.dispatcher.usePool(this.pool);
    const { dispatcher } = this;
    this.leases = new LeaseKeeper(
      this.broker,
      () => [...dispatcher.reserved, ...dispatcher.active.values()].filter((j) => !j.acked).map((j) => j.delivery),
      this.app.log,
    );
    this.leases.start();
    // Subscribed before we say "ready": a command sent right after must not be missed.
    this.stopControl = await listenForControl(this.broker, this.control, this.app.log);
    const heartbeatSource = { active: () => dispatcher.active.size, processed: () => this.counts.processed };
    this.events = new TaskEvents(
      this.broker,
      this.hostname,
      this.opts.taskEvents ?? this.app.settings.workerSendTaskEvents,
      heartbeatSource,
      this.app.log,
      this.opts.heartbeat ?? true,
    );
    this.events.start();
    this.consuming = this.consumer.run();
    this.app.log.info(
      `${this.hostname} ready: broker ${describeUrl(this.broker.displayUrl)}, results ${describeUrl(this.backend.displayUrl)}, ` +
        `queues [${this.queues.join(", ")}], pool ${this.poolKind} x${this.concurrency}, tasks [${[...this.app.tasks.keys()].join(", ")}]`,
    );
    this.emit("ready");
    this.app.emit("workerReady", this);
  }

  private createPool(): Pool {
    if (this.poolKind === "async") return new AsyncPool(this.app, this.concurrency);
    if (!this.opts.appModule) throw new Error(`the ${this.poolKind} pool needs the app module (appModule) to load in its children`);
    const pool = new IsolatedPool({
      kind: this.poolKind,
      size: this.concurrency,
      appModule: this.opts.appModule,
      log: this.app.log,
      maxTasksPerChild: this.opts.maxTasksPerChild ?? this.app.settings.workerMaxTasksPerChild,
      maxMemoryPerChild: this.opts.maxMemoryPerChild ?? this.app.settings.workerMaxMemoryPerChild,
    });
    pool.onIdle = () => this.dispatcher.dispatch();
    return pool;
  }

  /**
   * Warm (graceful) stop: take nothing new, give back what is only reserved,
   * finish what runs. Cold stop: kill running tasks; late-ack messages go back.
   */
  async stop(graceful = true): Promise<void> {
    if (this.stopping && graceful) return this.finished ?? Promise.resolve();
    this.stopping = true;
    this.consumer.stop();
    this.finished = (async () => {
      const { dispatcher } = this;
      const giveBack = dispatcher.stop();
      await bounded(this.stopControl?.());
      this.stopControl = null;
      this.app.log.info(`${this.hostname}: ${graceful ? "warm" : "cold"} shutdown (${dispatcher.active.size} running, ${giveBack.length} reserved)`);
      await bounded(Promise.all(giveBack.map((job) => this.broker.reject(job.delivery, true))));
      if (!graceful) {
        await bounded(Promise.all([...dispatcher.active.values()].filter((j) => !j.acked).map((j) => this.broker.reject(j.delivery, true))));
      }
      // No pool yet when stopped during start-up (the broker not reachable so far).
      if (this.pool) await this.pool.close(graceful);
      if (graceful) await dispatcher.drained();
      // The consume loop ends within one fetch wait. Broker calls are bounded: a
      // broker that is reconnecting must not hold the shutdown forever (what is
      // not acked comes back to the queue anyway).
      await bounded(this.consuming);
      await bounded(this.acker.flush());
      await bounded(this.events?.stop());
      this.leases?.stop();
      this.revoked.save();
      this.emit("stopped");
      this.app.emit("workerShutdown", this);
    })();
    return this.finished;
  }
}
