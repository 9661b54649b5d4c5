// The worker: takes messages from the broker, checks them, hands them to a
// pool, stores what came of them, and acks. Prefetched messages stay leased in
// the broker while they wait here, and the leases are renewed, so a worker that
// dies loses nothing and a slow task is not delivered twice.
import { EventEmitter } from "node:events";
import { hostname as osHostname } from "node:os";
import type { Celeriac } from "../app.js";
import type { Broker, Delivery } from "../brokers/broker.js";
import type { ResultBackend, ResultMeta } from "../backends/backend.js";
import { continueAfterFailure, continueAfterRevoked, continueAfterSuccess, hasSuccessContinuation } from "../canvas/continuation.js";
import {
  ConfigurationError,
  DecodeError,
  EncodeError,
  InvalidTaskOptions,
  RetryNotSent,
  TaskNotRegistered,
  TaskRevokedError,
  WorkerLostError,
  serializeError,
  tracebackOf,
  type ExceptionInfo,
} from "../errors.js";
import { logSafe } from "../log.js";
import { maskUrl } from "../url.js";
import { decodeTask, isoWithOffset, parseIsoTime, type DecodeLimits, type Message, type TaskMessage } from "../protocol/message.js";
import { repr } from "../protocol/repr.js";
import { States } from "../states.js";
import type { Task, TaskRequest } from "../task.js";
import { WriteBatcher } from "../util/batcher.js";
import type { Pool, PoolOutcome } from "./pool.js";
import { AsyncPool } from "./pools/async.js";
import { IsolatedPool } from "./pools/isolated.js";
import { RateGate } from "./rate-gate.js";
import { listenForControl, type Controllable } from "./remote-control.js";
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

/** A fetch in flight and how many messages it asked for. */
interface Fetch {
  deliveries: Promise<Delivery[]>;
  max: number;
}

interface Job {
  delivery: Delivery;
  msg: TaskMessage;
  task: Task;
  request: TaskRequest;
  acksLate: boolean;
  acked: boolean;
  /** When the pool started it (epoch seconds), for inspect. */
  timeStart?: number;
}

/** Waits for a shutdown step, but at most `ms`; its failure is not the shutdown's. */
function bounded(step: Promise<unknown> | undefined, ms = 3000): Promise<unknown> {
  if (!step) return Promise.resolve();
  return Promise.race([step.catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())]);
}

/** A job's task name and id as a log line prints them. */
function nameOf(job: Job): string {
  return `${logSafe(job.request.task)}[${logSafe(job.request.id)}]`;
}

/**
 * Whether recording failed because of the outcome itself (a value or a
 * signature that cannot be encoded or built), so it would fail the same way
 * every time, rather than because a broker or backend is away.
 */
function failsAlways(err: unknown): boolean {
  return err instanceof EncodeError || err instanceof InvalidTaskOptions || err instanceof DecodeError || err instanceof TypeError || err instanceof RangeError;
}

/**
 * A stack's frames, its first line(s) (the error's name and message, which
 * the log line says already) left out; a stack without V8 frames whole.
 */
function framesOf(traceback: string | null): string | null {
  if (!traceback) return null;
  const at = traceback.search(/^\s+at /m);
  return at > 0 ? traceback.slice(at) : traceback;
}

/** Celery writes date_done as a naive UTC isoformat (six fraction digits: Celery's parser reads them as microseconds). */
function dateDone(): string {
  return new Date().toISOString().replace("Z", "000");
}

export class Worker extends EventEmitter implements Controllable {
  readonly hostname: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly poolKind: "process" | "thread" | "async";
  private broker!: Broker;
  private backend!: ResultBackend;
  private pool!: Pool;
  private readonly reserved: Job[] = [];
  private readonly active = new Map<string, Job>();
  private readonly prefetchLimit: number;
  private readonly fetchBatch: number;
  /** How many messages the last fetch asked for. */
  /** Messages asked for by the fetches in flight: they count against the prefetch window. */
  private asked = 0;
  /** Set while pump() runs: a task that ends inside it (synchronously) frees a slot pump is already looking at. */
  private pumping = false;
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeLoop: (() => void) | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private readonly acks: WriteBatcher<Delivery>;
  private readonly revoked: RevokedSet;
  private readonly rateGate: RateGate<Job>;
  private readonly timeLimits = new Map<string, { soft: number | null; hard: number | null }>();
  private readonly processedByName = new Map<string, number>();
  private stopControl: (() => Promise<void>) | null = null;
  private readonly decodeLimits: DecodeLimits;
  /** Events for monitors; null until started. */
  events: TaskEvents | null = null;
  private readonly startedAt = Date.now();
  /** Tasks finished since start, by outcome. */
  readonly counts = { processed: 0, succeeded: 0, failed: 0, retried: 0 };

  constructor(private readonly app: Celeriac, private readonly opts: WorkerOptions = {}) {
    super();
    const s = app.settings;
    this.hostname = (opts.hostname ?? s.workerHostname ?? "celeriac@%h").replace("%h", osHostname());
    this.queues = opts.queues?.length ? opts.queues : [s.taskDefaultQueue];
    this.concurrency = opts.concurrency ?? s.workerConcurrency;
    this.poolKind = opts.pool ?? s.workerPool;
    this.prefetchLimit = Math.max(this.concurrency, this.concurrency * (opts.prefetchMultiplier ?? s.workerPrefetchMultiplier));
    // A quarter of the window a fetch: small enough that several are in flight in a
    // backlog, large enough that each round trip brings many.
    this.fetchBatch = Math.max(1, Math.floor(this.prefetchLimit / 4));
    // Ack failures are reported here, once per batch (the message comes back: at-least-once).
    // Acks go at the end of the current job: a burst of tasks started together still
    // shares one, and a broker can tell a message acked at once from one held.
    this.acks = new WriteBatcher(
      (batch) => this.broker.ack(batch).catch((err: Error) => this.log.error(`ack failed: ${err.message}`)),
      5000,
      "microtask",
    );
    const sizeLimit = s.workerMessageSizeLimit;
    if (sizeLimit !== null && !(typeof sizeLimit === "number" && sizeLimit > 0)) {
      throw new ConfigurationError(`workerMessageSizeLimit must be a positive number of bytes or null, got ${JSON.stringify(sizeLimit)}`);
    }
    this.decodeLimits = { messageSizeLimit: sizeLimit };
    this.revoked = new RevokedSet(opts.stateDb ?? s.workerStateDb);
    this.rateGate = new RateGate<Job>(s, opts.disableRateLimits ?? false, app.log, {
      broker: () => this.broker,
      start: (job) => this.execute(job),
      // Once stopping, the reserved jobs have been given back already: this one goes back too.
      putBack: (job) => (this.stopping ? void this.broker.reject(job.delivery, true).catch(() => {}) : this.reserved.unshift(job)),
      pump: () => this.pump(),
    });
  }

  private get log() {
    return this.app.log;
  }

  /** Whether per-task info lines are printed: checked once, so a quiet worker builds no log text per task. */
  private get logInfo(): boolean {
    return (this.infoEnabled ??= this.log.isLevelEnabled("info"));
  }

  private infoEnabled: boolean | undefined;

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
    const renewEvery = Math.max(500, (this.broker.visibilityTimeout * 1000) / 3);
    this.leaseTimer = setInterval(() => void this.renewLeases(), renewEvery);
    this.leaseTimer.unref();
    // Subscribed before we say "ready": a command sent right after must not be missed.
    this.stopControl = await listenForControl(this.broker, this, this.log);
    this.events = new TaskEvents(this.broker, this.hostname, this.opts.taskEvents ?? this.app.settings.workerSendTaskEvents, {
      active: () => this.active.size,
      processed: () => this.counts.processed,
    }, this.log, this.opts.heartbeat ?? true);
    this.events.start();
    this.loopDone = this.consume();
    this.log.info(
      `${this.hostname} ready: broker ${this.broker.displayUrl}, results ${this.backend.displayUrl}, ` +
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
      log: this.log,
      maxTasksPerChild: this.opts.maxTasksPerChild ?? this.app.settings.workerMaxTasksPerChild,
      maxMemoryPerChild: this.opts.maxMemoryPerChild ?? this.app.settings.workerMaxMemoryPerChild,
    });
    pool.onIdle = () => this.pump();
    return pool;
  }

  // ---- consuming ---------------------------------------------------------------

  private async consume(): Promise<void> {
    let failures = 0;
    // Fetches in flight, oldest first. While batches come full (a backlog), the
    // whole prefetch window is asked for, a quarter at a time, so the broker
    // prepares the next batches while this process reads one and runs another,
    // instead of taking turns (no-op drain on Redis +25 % over one fetch ahead);
    // after a partial batch one fetch is enough (it waits for new messages).
    const ahead: Fetch[] = [];
    let backlog = false;
    while (!this.stopping) {
      // Idle, the tasks just run send their results first: the next (blocking) fetch
      // is not on their way, and nothing can come for it before a result goes out.
      if (!backlog && !ahead.length) await new Promise((r) => setImmediate(r));
      this.fetchAhead(ahead, backlog);
      const first = ahead[0];
      if (!first) {
        await new Promise<void>((r) => (this.wakeLoop = r));
        continue;
      }
      let deliveries: Delivery[];
      try {
        deliveries = await first.deliveries;
        if (failures) this.log.info(`fetching from ${this.broker.displayUrl} again`);
        failures = 0;
      } catch (err) {
        // The broker went away: back off and try again; the broker reconnects by itself.
        // Said once per outage (as Celery's "Connection to broker lost"), not once per retry.
        failures++;
        const pause = Math.min(2_000, 100 * 2 ** Math.min(failures, 5));
        if (failures === 1) this.log.error(`cannot fetch from ${this.broker.displayUrl}: ${maskUrl((err as Error).message)}; retrying until it answers`);
        await new Promise((r) => setTimeout(r, pause));
        continue;
      } finally {
        ahead.shift();
        this.asked -= first.max;
      }
      if (this.stopping) {
        for (const d of deliveries) await this.broker.reject(d, true).catch(() => {});
        break;
      }
      for (const d of deliveries) {
        const settling = this.receive(d);
        if (settling) await settling;
      }
      // A full batch means more are probably waiting: ask for them before running these.
      backlog = deliveries.length >= first.max;
      if (backlog) this.fetchAhead(ahead, true);
      this.pump();
    }
    // Stopped with fetches in flight: what they bring goes straight back
    // (left leased, it would wait out the visibility timeout).
    for (const f of ahead.splice(0)) for (const d of await f.deliveries.catch(() => [])) await this.broker.reject(d, true).catch(() => {});
  }

  /** Asks for more while the prefetch window has room (in a backlog; else while nothing is in flight). */
  private fetchAhead(ahead: Fetch[], backlog: boolean): void {
    while (backlog || !ahead.length) {
      const f = this.fetchMore();
      if (!f) return;
      ahead.push(f);
    }
  }

  /**
   * Asks the broker for as many messages as the prefetch window has room for
   * (counting those asked for already), at most fetchBatch at once, or null
   * when there is too little room to be worth a round trip.
   */
  private fetchMore(): Fetch | null {
    const free = this.prefetchLimit - this.reserved.length - this.active.size - this.asked;
    const max = Math.min(free, this.fetchBatch);
    // While work is reserved or on its way, refill a whole batch at a time, not one
    // message per round trip each time a task finishes.
    if (max <= 0 || ((this.reserved.length > 0 || this.asked > 0) && max < this.fetchBatch)) return null;
    this.asked += max;
    const deliveries = this.broker.fetch(this.queues, { max, waitMs: 1000, lease: true, window: this.prefetchLimit });
    // Fetches ahead are awaited in turn: one that fails (the broker went away) while an
    // older one is awaited must not count as an unhandled rejection meanwhile.
    deliveries.catch(() => {});
    return { deliveries, max };
  }

  private wake(): void {
    const w = this.wakeLoop;
    this.wakeLoop = null;
    w?.();
  }

  /**
   * Checks one delivery and either reserves it for the pool (synchronously: the
   * common case allocates no promise) or settles it here (the returned promise).
   */
  private receive(delivery: Delivery): Promise<void> | undefined {
    let msg: TaskMessage;
    try {
      msg = decodeTask(delivery.message, this.app.settings.acceptContent, this.decodeLimits);
    } catch (err) {
      return this.dropUndecodable(delivery, err as Error);
    }
    const h = msg.headers;
    if (msg.warnings) for (const w of msg.warnings) this.log.warn(`task ${logSafe(h.task)}[${logSafe(h.id)}]: ${w}`);
    const task = this.app.tasks.get(h.task);
    const now = Date.now();
    const expires = h.expires === null ? null : parseIsoTime(h.expires);
    const eta = h.eta === null ? null : parseIsoTime(h.eta);
    if (!task || this.revoked.has(h.id) || (expires !== null && expires <= now) || (eta !== null && eta > now + 5)) {
      return this.settleOnReceipt(delivery, msg, task, expires, eta, now);
    }
    const acksLate = task.options.acksLate ?? this.app.settings.taskAcksLate;
    if (this.logInfo) this.log.info(`task ${logSafe(h.task)}[${logSafe(h.id)}] received`);
    this.events?.received(msg);
    this.reserved.push({ delivery, msg, task, request: this.requestOf(msg, delivery), acksLate, acked: false });
    return undefined;
  }

  /** A message that will not run now: unknown task, revoked, expired, or not due yet. */
  private async settleOnReceipt(delivery: Delivery, msg: TaskMessage, task: Task | undefined, expires: number | null, eta: number | null, now: number): Promise<void> {
    const h = msg.headers;
    const name = `${logSafe(h.task)}[${logSafe(h.id)}]`;
    try {
      if (!task) {
        const err = new TaskNotRegistered(`received unregistered task ${JSON.stringify(h.task)} [${h.id}]; message dropped`);
        this.log.error(`received unregistered task ${name}; message dropped`);
        await this.storeFailure(msg, delivery, err);
        await this.broker.reject(delivery, false);
        return;
      }
      if (this.revoked.has(h.id)) {
        this.log.info(`task ${name} is revoked: not run`);
        // received first, so monitors learn the task's name and arguments.
        this.events?.received(msg);
        this.events?.revoked(h.id);
        await this.store(msg, delivery, States.REVOKED, serializeError(new TaskRevokedError("revoked")), null);
        await continueAfterRevoked(this.app, msg, serializeError(new TaskRevokedError("revoked")));
        await this.broker.ack([delivery]);
        return;
      }
      if (expires !== null && expires <= now) {
        this.log.info(`task ${name} expired at ${logSafe(h.expires)}: not run`);
        this.events?.received(msg);
        this.events?.revoked(h.id, { expired: true });
        await this.store(msg, delivery, States.REVOKED, serializeError(new TaskRevokedError("expired")), null);
        await continueAfterRevoked(this.app, msg, serializeError(new TaskRevokedError("expired")));
        await this.broker.ack([delivery]);
        return;
      }
      if (eta !== null && eta > now + 5) {
        // A message that is not due yet (a Python producer puts ETA tasks straight
        // in the queue): hand it back to the broker's schedule instead of holding it here.
        await this.broker.publish({ queue: delivery.queue }, delivery.message, { eta, priority: delivery.message.properties.priority });
        await this.broker.ack([delivery]);
      }
    } catch (err) {
      // The consume loop awaits this: a failure here must not end it. The message is
      // still leased (or was taken): it comes back, or was settled before the failure.
      this.log.error(`task ${name}: cannot settle on receipt: ${(err as Error).message}`);
    }
  }

  /**
   * A message that cannot run as it is (unreadable, too large, missing or bad
   * fields): logged with the reason, FAILURE stored when it has a usable id,
   * and dropped: redelivering it would fail the same way forever.
   */
  private async dropUndecodable(delivery: Delivery, err: Error): Promise<void> {
    const headers: unknown = delivery.message.headers;
    const h = headers !== null && typeof headers === "object" ? (headers as Record<string, unknown>) : {};
    const id = typeof h.id === "string" && h.id ? h.id : null;
    const name = typeof h.task === "string" && h.task ? h.task : "?";
    this.log.error(`cannot read message ${logSafe(name)}[${id === null ? "no id" : logSafe(id)}] from queue ${logSafe(delivery.queue)}: ${logSafe(err.message, 500)}; message dropped`);
    if (id) {
      const exc = err instanceof DecodeError ? err : new DecodeError(err.message);
      const p = delivery.message.properties;
      const replyTo = typeof p?.reply_to === "string" ? p.reply_to : null;
      const correlationId = typeof p?.correlation_id === "string" ? p.correlation_id : id;
      await this.backend
        .store(
          { task_id: id, status: States.FAILURE, result: serializeError(exc), traceback: tracebackOf(exc), children: [], date_done: dateDone() },
          { replyTo, correlationId },
        )
        .catch((e: Error) => this.log.error(`task ${logSafe(id)}: cannot store its FAILURE: ${e.message}`));
    }
    await this.broker.reject(delivery, false).catch((e: Error) => this.log.error(`cannot drop message ${logSafe(id ?? "with no id")}: ${e.message}`));
  }

  private requestOf(msg: TaskMessage, delivery: Delivery): TaskRequest {
    const h = msg.headers;
    return {
      id: h.id,
      task: h.task,
      args: msg.args,
      kwargs: msg.kwargs,
      retries: h.retries,
      hostname: this.hostname,
      deliveryInfo: {
        exchange: msg.properties.delivery_info?.exchange ?? "",
        routing_key: msg.properties.delivery_info?.routing_key ?? delivery.queue,
        priority: msg.properties.priority,
        redelivered: delivery.redelivered,
      },
      eta: h.eta,
      expires: h.expires,
      parentId: h.parent_id,
      rootId: h.root_id,
      groupId: h.group,
      groupIndex: h.group_index,
      correlationId: msg.properties.correlation_id ?? h.id,
      replyTo: msg.properties.reply_to ?? null,
      origin: h.origin,
      timeLimit: [h.timelimit[0] ?? null, h.timelimit[1] ?? this.opts.softTimeLimit ?? null],
      headers: h,
      ignoreResult: h.ignore_result,
      isEager: false,
    };
  }

  /**
   * Starts reserved jobs while the pool has room. A rate-limited job whose
   * bucket is empty waits in place; the jobs behind it are not held back.
   */
  private pump(): void {
    if (this.pumping || (this.stopping && this.reserved.length === 0)) return;
    this.pumping = true;
    try {
      this.startReserved();
    } finally {
      this.pumping = false;
    }
  }

  private startReserved(): void {
    let wait = Infinity;
    for (let i = 0; i < this.reserved.length && this.pool.idle() - this.rateGate.slotsHeld > 0; ) {
      const job = this.reserved[i]!;
      if (this.revoked.has(job.request.id)) {
        this.reserved.splice(i, 1);
        void this.discardRevoked(job);
        continue;
      }
      const due = this.rateGate.takeLocalToken(job.task);
      if (due > 0) {
        wait = Math.min(wait, due);
        i++;
        continue;
      }
      this.reserved.splice(i, 1);
      if (this.rateGate.needsGlobalToken(job.task)) {
        void this.rateGate.passGlobalLimit(job);
        continue;
      }
      void this.execute(job);
    }
    this.rateGate.retryIn(wait);
  }

  private async discardRevoked(job: Job): Promise<void> {
    this.log.info(`task ${nameOf(job)} is revoked: not run`);
    this.events?.revoked(job.request.id);
    await this.store(job.msg, job.delivery, States.REVOKED, serializeError(new TaskRevokedError("revoked")), null).catch(() => {});
    await continueAfterRevoked(this.app, job.msg, serializeError(new TaskRevokedError("revoked"))).catch((err: Error) => this.log.error(`chord part of revoked ${logSafe(job.request.id)}: ${err.message}`));
    await this.broker.ack([job.delivery]).catch(() => {});
    this.wake();
  }

  private execute(job: Job): void {
    const { request, task } = job;
    job.timeStart = Date.now() / 1000;
    this.active.set(request.id, job);
    this.events?.started(request.id);
    if (!job.acksLate) {
      job.acked = true;
      void this.acks.add(job.delivery);
    }
    if (task.options.trackStarted ?? this.app.settings.taskTrackStarted) {
      // STARTED is advisory: a backend that cannot take it does not stop the task.
      this.store(job.msg, job.delivery, States.STARTED, { pid: process.pid, hostname: this.hostname }, null)
        .catch((err: Error) => this.log.warn(`task ${nameOf(job)}: cannot record STARTED: ${err.message}`))
        .then(() => this.runInPool(job));
      return;
    }
    this.runInPool(job);
  }

  private runInPool(job: Job): void {
    const { request, task } = job;
    const override = this.timeLimits.get(task.name);
    if (override?.soft && request.timeLimit[1] === null) request.timeLimit = [request.timeLimit[0], override.soft];
    const hard = request.timeLimit[0] ?? override?.hard ?? task.options.timeLimit ?? this.app.settings.taskTimeLimit ?? this.opts.timeLimit ?? null;
    this.broker.flushLeases?.(job.acked ? job.delivery : null);
    let outcome: PoolOutcome | Promise<PoolOutcome>;
    try {
      outcome = this.pool.run({ request, hardTimeLimit: hard });
    } catch (err) {
      outcome = { kind: "lost", reason: (err as Error).message, runtime: 0 };
    }
    if (outcome instanceof Promise) {
      outcome.then(
        (o) => this.finish(job, this.settle(job, o)),
        (err: Error) => this.finish(job, this.settle(job, { kind: "lost", reason: err.message, runtime: 0 })),
      );
    } else {
      this.finish(job, this.settle(job, outcome));
    }
  }

  /** Once the outcome is recorded (`settling`, or at once when there was nothing to wait for): the slot is free. */
  private finish(job: Job, settling: Promise<void> | undefined): void {
    if (settling) {
      settling.then(
        () => this.finish(job, undefined),
        (err: Error) => {
          this.log.error(`task ${nameOf(job)}: cannot record its outcome: ${err.message}`);
          this.finish(job, undefined);
        },
      );
      return;
    }
    this.active.delete(job.request.id);
    this.counts.processed++;
    this.processedByName.set(job.request.task, (this.processedByName.get(job.request.task) ?? 0) + 1);
    this.pump();
    this.wake();
    if (this.stopping && this.active.size === 0) this.emit("drained");
  }

  /**
   * Records an outcome. The common case of a fire-and-forget task (it
   * succeeded, nothing to store, nothing to continue, acked) is done here at
   * once; the rest in recordOutcome.
   */
  private settle(job: Job, outcome: PoolOutcome): Promise<void> | undefined {
    if (outcome.kind !== "success" || !this.resultIgnored(job.msg, false, job.task) || hasSuccessContinuation(job.msg)) {
      return this.recordOutcome(job, outcome);
    }
    this.counts.succeeded++;
    if (this.logInfo) this.log.info(`task ${nameOf(job)} succeeded in ${outcome.runtime.toFixed(4)}s: ${repr(outcome.value, 200)}`);
    this.events?.succeeded(job.request.id, outcome.value, outcome.runtime);
    if (job.acked) return undefined;
    job.acked = true;
    return this.acks.add(job.delivery);
  }

  /**
   * Records an outcome: result, retry message, workflow continuation, ack.
   * Whatever fails, the message is settled: an outcome that cannot be recorded
   * never leaves it unacked (see unrecorded).
   */
  private async recordOutcome(job: Job, outcome: PoolOutcome): Promise<void> {
    let settled: boolean;
    try {
      settled = await this.recordResult(job, outcome);
    } catch (err) {
      settled = await this.unrecorded(job, err);
    }
    if (!settled && !job.acked) {
      job.acked = true;
      await this.acks.add(job.delivery);
    }
  }

  /** Stores the outcome and continues the workflow; true when the message was settled here (rejected or requeued). */
  private async recordResult(job: Job, outcome: PoolOutcome): Promise<boolean> {
    const { msg, delivery, request } = job;
    const name = this.logInfo || outcome.kind !== "success" ? nameOf(job) : "";
    switch (outcome.kind) {
      case "success":
        try {
          await this.store(msg, delivery, States.SUCCESS, outcome.value, null);
        } catch (err) {
          if (!(err instanceof EncodeError)) throw err;
          // Celery's trace does the same: a result the backend cannot encode fails the task.
          const exc = new EncodeError(`task ${request.task}[${request.id}] returned a value that cannot be stored: ${err.message}`, { cause: err });
          await this.fail(job, exc, tracebackOf(exc), `task ${nameOf(job)} returned a value that cannot be stored: ${logSafe(err.message, 500)}`);
          break;
        }
        this.counts.succeeded++;
        if (this.logInfo) this.log.info(`task ${name} succeeded in ${outcome.runtime.toFixed(4)}s: ${repr(outcome.value, 200)}`);
        this.events?.succeeded(request.id, outcome.value, outcome.runtime);
        if (hasSuccessContinuation(msg)) await this.continueWorkflow(job, () => continueAfterSuccess(this.app, msg, outcome.value));
        break;
      case "failure":
        if (outcome.exc.exc_type === "TaskRevokedError") {
          this.log.info(`task ${name} terminated: revoked`);
          this.events?.revoked(request.id, { terminated: true, signum: "SIGTERM" });
          await this.store(msg, delivery, States.REVOKED, outcome.exc, null);
          await this.continueWorkflow(job, () => continueAfterRevoked(this.app, msg, outcome.exc));
          break;
        }
        await this.fail(job, outcome.exc, outcome.traceback, `task ${name} raised ${outcome.exc.exc_type}: ${logSafe(String(outcome.exc.exc_message[0] ?? ""), 500)}`);
        break;
      case "retry":
        this.counts.retried++;
        this.log.info(`task ${name} retry in ${outcome.countdown.toFixed(1)}s: ${logSafe(String(outcome.exc?.exc_message[0] ?? ""), 500)}`);
        this.events?.retried(request.id, outcome.exc, outcome.traceback);
        await this.store(msg, delivery, States.RETRY, outcome.exc, outcome.traceback);
        try {
          await this.republishForRetry(delivery, outcome.countdown);
        } catch (err) {
          // A late-ack message goes back (unrecorded) unless its retry would fail the same way again.
          if (job.acksLate && !job.acked && !failsAlways(err)) throw err;
          const reason = err instanceof Error ? err.message : String(err);
          const exc = new RetryNotSent(`task ${request.task}[${request.id}]: its retry cannot be sent: ${reason}`, { cause: err });
          await this.fail(job, exc, tracebackOf(exc), `task ${name}: its retry cannot be sent: ${logSafe(reason, 500)}; the task fails`);
        }
        break;
      case "reject":
        this.log.warn(`task ${name} rejected (${logSafe(outcome.reason, 500)})${outcome.requeue ? ": requeued" : ""}`);
        this.events?.rejected(request.id, outcome.requeue);
        if (!job.acked) {
          await this.broker.reject(delivery, outcome.requeue);
          return true;
        }
        if (outcome.requeue) await this.broker.publish({ queue: delivery.queue }, delivery.message);
        return true;
      case "ignore":
        break;
      case "lost":
        if (job.acksLate && !job.acked && (job.task.options.rejectOnWorkerLost ?? this.app.settings.taskRejectOnWorkerLost ?? true)) {
          // At-least-once: the message goes back and another child runs it.
          this.log.error(`task ${name}: ${outcome.reason}; message requeued`);
          await this.broker.reject(delivery, true);
          return true;
        }
        await this.fail(job, serializeError(new WorkerLostError(outcome.reason)), null, `task ${name}: ${outcome.reason}`);
        break;
    }
    return false;
  }

  /**
   * A failed task: logged at ERROR with its stack (as Celery logs the
   * traceback), FAILURE stored, then its chord part, chain and errbacks.
   */
  private async fail(job: Job, exc: ExceptionInfo | Error, traceback: string | null, line: string): Promise<void> {
    const { msg, delivery, request } = job;
    const info = exc instanceof Error ? serializeError(exc) : exc;
    this.counts.failed++;
    const frames = framesOf(traceback);
    if (frames) this.log.error({ err: { stack: frames } }, line);
    else this.log.error(line);
    this.events?.failed(request.id, info, traceback);
    await this.store(msg, delivery, States.FAILURE, info, traceback, true);
    await this.continueWorkflow(job, () => continueAfterFailure(this.app, msg, info, traceback));
  }

  /**
   * Runs what comes after the task (callbacks, chain, chord part, errbacks).
   * One that can never be sent (a malformed signature in the embed) is logged
   * and the message acked: the task's own result is stored, and running it
   * again would fail the same way. Any other failure (the broker is away) is
   * the outcome's: a late-ack message goes back (see unrecorded).
   */
  private async continueWorkflow(job: Job, next: () => Promise<void>): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (!failsAlways(err)) throw err;
      this.log.error(`task ${nameOf(job)}: cannot continue its workflow (callbacks, chain, chord): ${logSafe(err instanceof Error ? err.message : String(err), 500)}; its own result is stored`);
    }
  }

  /**
   * An outcome that could not be recorded (the backend or broker failed under
   * it). A late-ack message goes back to the queue and runs again (at least
   * once), unless it would fail the same way every time: that one, like an
   * early-acked one, gets FAILURE stored where possible and is acked, so no
   * message loops forever and no caller's get() waits for nothing.
   * Returns whether the message is settled.
   */
  private async unrecorded(job: Job, err: unknown): Promise<boolean> {
    const reason = logSafe(err instanceof Error ? err.message : String(err), 500);
    if (job.acksLate && !job.acked && !failsAlways(err)) {
      this.log.error(`task ${nameOf(job)}: cannot record its outcome: ${reason}; message requeued`);
      await this.broker.reject(job.delivery, true);
      return true;
    }
    this.log.error(`task ${nameOf(job)}: cannot record its outcome: ${reason}`);
    await this.storeFailure(job.msg, job.delivery, err instanceof Error ? err : new Error(String(err)));
    return false;
  }

  /** Sends the same message again, retries + 1, due after `countdown` seconds. */
  private async republishForRetry(delivery: Delivery, countdown: number): Promise<void> {
    const eta = Date.now() + countdown * 1000;
    if (!Number.isFinite(eta)) throw new InvalidTaskOptions(`retry countdown ${String(countdown)} is not a number of seconds`);
    const m = delivery.message;
    const next: Message = {
      ...m,
      headers: { ...m.headers, retries: ((m.headers.retries as number) ?? 0) + 1, eta: isoWithOffset(new Date(eta)) },
      properties: { ...m.properties },
    };
    await this.broker.publish({ queue: delivery.queue }, next, { eta, priority: m.properties.priority });
  }

  /** Whether this outcome's result is not stored (ignoreResult, unless it is an error to store anyway). */
  private resultIgnored(msg: TaskMessage, isError: boolean, task = this.app.tasks.get(msg.headers.task)): boolean {
    if (!(msg.headers.ignore_result || (task?.options.ignoreResult ?? false))) return false;
    return !(isError && (task?.options.storeErrorsEvenIfIgnored ?? this.app.settings.taskStoreErrorsEvenIfIgnored));
  }

  private async store(msg: TaskMessage, delivery: Delivery, status: string, result: unknown, traceback: string | null, isError = false): Promise<void> {
    if (this.resultIgnored(msg, isError)) return;
    const h = msg.headers;
    const meta: ResultMeta = {
      status,
      result,
      traceback,
      children: [],
      date_done: status === States.STARTED || status === States.RETRY ? null : dateDone(),
      task_id: h.id,
    };
    if (h.group) meta.group_id = h.group;
    if (h.parent_id) meta.parent_id = h.parent_id;
    if (this.app.settings.resultExtended) {
      Object.assign(meta, { name: h.task, args: msg.args, kwargs: msg.kwargs, worker: this.hostname, retries: h.retries, queue: delivery.queue });
    }
    await this.backend.store(meta, { replyTo: msg.properties.reply_to ?? null, correlationId: msg.properties.correlation_id ?? h.id });
  }

  private async storeFailure(msg: TaskMessage, delivery: Delivery, err: Error): Promise<void> {
    const info: ExceptionInfo = serializeError(err);
    await this.store(msg, delivery, States.FAILURE, info, tracebackOf(err), true).catch(() => {});
  }

  private async renewLeases(): Promise<void> {
    const leased = [...this.reserved, ...this.active.values()].filter((j) => !j.acked).map((j) => j.delivery);
    if (!leased.length) return;
    await this.broker.extendLease(leased).catch((err: Error) => this.log.warn(`cannot renew leases: ${err.message}`));
  }

  // ---- control --------------------------------------------------------------------

  /** Stops a running task (revoke with terminate). */
  terminate(taskId: string): boolean {
    return this.pool.terminate(taskId);
  }

  revoke(ids: string[], terminate: boolean): string[] {
    this.revoked.add(ids);
    const terminated = terminate ? ids.filter((id) => this.pool.terminate(id)) : [];
    this.pump();
    return terminated;
  }

  revokedIds(): string[] {
    return this.revoked.list();
  }

  private jobInfo(job: Job): Record<string, unknown> {
    const r = job.request;
    return {
      id: r.id,
      name: r.task,
      args: r.args,
      kwargs: r.kwargs,
      type: r.task,
      hostname: this.hostname,
      time_start: job.timeStart ?? null,
      acknowledged: job.acked,
      delivery_info: r.deliveryInfo,
      worker_pid: process.pid,
    };
  }

  activeInfo(): unknown[] {
    return [...this.active.values()].map((j) => this.jobInfo(j));
  }

  reservedInfo(): unknown[] {
    return this.reserved.map((j) => this.jobInfo(j));
  }

  registered(): string[] {
    return [...this.app.tasks.keys()].sort();
  }

  stats(): Record<string, unknown> {
    return {
      total: Object.fromEntries(this.processedByName),
      pid: process.pid,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      pool: { implementation: this.poolKind, "max-concurrency": this.pool.size, processes: [] },
      prefetch_count: this.prefetchLimit,
      broker: { url: this.broker.displayUrl },
      rusage: { maxrss: Math.round(process.memoryUsage.rss() / 1024) },
      counts: { ...this.counts },
    };
  }

  activeQueues(): unknown[] {
    return this.queues.map((q) => ({ name: q, exchange: { name: q, type: "direct" }, routing_key: q, durable: true, auto_delete: false }));
  }

  addConsumer(queue: string): void {
    if (!this.queues.includes(queue)) this.queues.push(queue);
    this.log.info(`now consuming from ${queue}`);
  }

  cancelConsumer(queue: string): void {
    const i = this.queues.indexOf(queue);
    if (i >= 0 && this.queues.length > 1) this.queues.splice(i, 1);
    this.log.info(`no longer consuming from ${queue}`);
  }

  setRateLimit(taskName: string, rate: string | null): void {
    this.rateGate.setRate(taskName, rate);
    this.pump();
  }

  setTimeLimit(taskName: string, soft: number | null, hard: number | null): void {
    this.timeLimits.set(taskName, { soft, hard });
  }

  async poolResize(delta: number): Promise<number> {
    const size = await this.pool.resize(Math.max(1, this.pool.size + delta));
    this.pump();
    return size;
  }

  setTaskEvents(on: boolean): void {
    this.events?.setTaskEvents(on);
  }

  shutdown(): void {
    this.emit("shutdown-requested");
    void this.stop(true);
  }

  get activeCount(): number {
    return this.active.size;
  }

  get reservedCount(): number {
    return this.reserved.length;
  }

  /**
   * Warm (graceful) stop: take nothing new, give back what is only reserved,
   * finish what runs. Cold stop: kill running tasks; late-ack messages go back.
   */
  async stop(graceful = true): Promise<void> {
    if (this.stopping && graceful) return this.finished ?? Promise.resolve();
    this.stopping = true;
    this.wake();
    this.finished = (async () => {
      this.rateGate.stop();
      await bounded(this.stopControl?.());
      this.stopControl = null;
      this.log.info(`${this.hostname}: ${graceful ? "warm" : "cold"} shutdown (${this.active.size} running, ${this.reserved.length} reserved)`);
      const giveBack = this.reserved.splice(0);
      await bounded(Promise.all(giveBack.map((job) => this.broker.reject(job.delivery, true))));
      if (!graceful) {
        await bounded(Promise.all([...this.active.values()].filter((j) => !j.acked).map((j) => this.broker.reject(j.delivery, true))));
      }
      // No pool yet when stopped during start-up (the broker not reachable so far).
      if (this.pool) await this.pool.close(graceful);
      if (graceful) while (this.active.size) await new Promise((r) => this.once("drained", r));
      // The consume loop ends within one fetch wait. Broker calls are bounded: a
      // broker that is reconnecting must not hold the shutdown forever (what is
      // not acked comes back to the queue anyway).
      await bounded(this.loopDone);
      await bounded(this.acks.flush());
      await bounded(this.events?.stop());
      if (this.leaseTimer) clearInterval(this.leaseTimer);
      this.revoked.save();
      this.emit("stopped");
      this.app.emit("workerShutdown", this);
    })();
    return this.finished;
  }

  private finished: Promise<void> | null = null;
}
