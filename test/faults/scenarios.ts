// The fault scenarios, sized by the caller: the tests run them small and
// assert on the outcome; `npm run chaos` (bench/chaos.ts) runs them large and
// prints the outcomes as a table. Every scenario sends real tasks to real
// worker processes (test/fixtures/fault-app.ts) and breaks something for real.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { Celeriac, type AsyncResult, type PublishRetryPolicy } from "../../src/index.js";
import { startWorker, type RunningProcess } from "../support/processes.js";
import type { OwnRabbit } from "../support/rabbit.js";
import type { OwnRedis } from "../support/redis.js";
import type { SentinelSet } from "../support/sentinel.js";
import { waitUntil } from "../support/wait.js";

export const FAULT_APP = "test/fixtures/fault-app.ts";

/** Where a scenario's tasks go: a broker and a backend that outlive the worker. */
export interface Target {
  broker: "sqlite" | "redis" | "amqp";
  brokerUrl: string;
  backendUrl: string;
  /** A queue (and exchange, routing key) name of the test's own: `fault-…`. */
  queue: string;
  /** Seconds before an unacked message is given to another worker (redis, sqlite). */
  visibilityTimeout?: number;
  /** More transport options, for the broker and the backend alike (Sentinel's masterName). */
  transportOptions?: Record<string, unknown>;
  /** RabbitMQ: the type of the task queue (taskDefaultQueueType). */
  queueType?: "classic" | "quorum";
  /** The producer's taskPublishRetryPolicy, where Celery's default (four tries in 0.4 s) is shorter than the fault. */
  publishRetryPolicy?: PublishRetryPolicy;
}

function transportOptions(t: Target): Record<string, unknown> {
  return { ...(t.visibilityTimeout ? { visibilityTimeout: t.visibilityTimeout } : {}), ...t.transportOptions };
}

/** One row of the chaos table. */
export interface Outcome {
  scenario: string;
  broker: string;
  /** Sends the broker confirmed. */
  sent: number;
  /** Tasks whose result is SUCCESS. */
  completed: number;
  lost: number;
  /** The ids of the lost tasks (for a failing test's message). */
  lostIds: string[];
  /** Tasks whose body started more than once. */
  runTwice: number;
  /** Seconds from the fault to the first task completed once the broker or worker was back (the longest, over repeated faults). */
  recoverySeconds: number | null;
  /** The last worker process, still running (the caller stops it). */
  worker: RunningProcess;
  /** Every worker process the scenario started, for their output. */
  workers: RunningProcess[];
}

export function workerEnv(t: Target): Record<string, string> {
  return {
    CELERIAC_BROKER_URL: t.brokerUrl,
    CELERIAC_RESULT_BACKEND: t.backendUrl,
    CELERIAC_TASK_DEFAULT_QUEUE: t.queue,
    CELERIAC_TASK_DEFAULT_EXCHANGE: t.queue,
    CELERIAC_TASK_DEFAULT_ROUTING_KEY: t.queue,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify(transportOptions(t)),
    CELERIAC_RESULT_BACKEND_TRANSPORT_OPTIONS: JSON.stringify(t.transportOptions ?? {}),
    CELERIAC_TASK_DEFAULT_QUEUE_TYPE: t.queueType ?? "classic",
  };
}

/** The producer's side, configured as the worker is. */
export function producer(t: Target): Celeriac {
  return new Celeriac({
    name: "fault-producer",
    broker: t.brokerUrl,
    backend: t.backendUrl,
    taskDefaultQueue: t.queue,
    taskDefaultExchange: t.queue,
    taskDefaultRoutingKey: t.queue,
    brokerTransportOptions: transportOptions(t),
    resultBackendTransportOptions: t.transportOptions ?? {},
    taskDefaultQueueType: t.queueType ?? "classic",
    ...(t.publishRetryPolicy ? { taskPublishRetryPolicy: t.publishRetryPolicy } : {}),
  });
}

/** How long one get() of the tracker waits before it asks again. */
const REREAD_MS = 3000;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Throws when a worker died that no fault killed: a scenario then fails at once, naming its output. */
function assertAlive(worker: RunningProcess): true {
  const { exitCode, signalCode } = worker.proc;
  if (exitCode !== null || signalCode !== null) {
    throw new Error(`the worker died (exit ${exitCode ?? signalCode}); output:\n${worker.output().slice(-3000)}`);
  }
  return true;
}

/**
 * Waits for every result, noting when each completed. A get() that fails
 * because the result store is down for the fault is tried again: the
 * question is whether the task completes, not whether the producer's
 * connection blinked. A send the broker never confirmed is not waited for.
 * (A Redis result published while the producer's connections were down can
 * leave a get() waiting although the result is stored: seen with kill -9 of
 * Redis; hence the re-reads.)
 */
export class CompletionTracker {
  readonly completedAt = new Map<string, number>();
  private pending = 0;

  constructor(
    results: AsyncResult[],
    private readonly deadline: number,
  ) {
    this.track(results);
  }

  /** Follows more results (sends made later). */
  track(results: AsyncResult[]): void {
    for (const r of results) {
      this.pending++;
      void this.follow(r).finally(() => this.pending--);
    }
  }

  /** Whether every result has completed, failed, gone unsent or run out of time. */
  get settled(): boolean {
    return this.pending === 0;
  }

  private async follow(r: AsyncResult): Promise<void> {
    try {
      await r.sent;
    } catch {
      return;
    }
    while (Date.now() < this.deadline) {
      try {
        // A few seconds at a time: each get() reads the stored result afresh, so a
        // completion whose notice the producer missed in an outage is still seen.
        await r.get({ timeout: Math.max(1, Math.min(REREAD_MS, this.deadline - Date.now())), propagate: false });
        if (r.state === "SUCCESS") this.completedAt.set(r.id, Date.now());
        return;
      } catch {
        await pause(250);
      }
    }
  }

  get completed(): number {
    return this.completedAt.size;
  }

  /** Milliseconds since `since` of the first completion seen after `from`. */
  firstAfter(from: number): number | null {
    let first = Infinity;
    for (const at of this.completedAt.values()) if (at >= from && at < first) first = at;
    return first === Infinity ? null : first;
  }
}

/** Ids whose body started more than once, from the runs file the tasks append to. */
export function countRunTwice(runsFile: string): number {
  if (!existsSync(runsFile)) return 0;
  const runs = new Map<string, number>();
  for (const line of readFileSync(runsFile, "utf8").split("\n")) {
    if (!line) continue;
    const id = line.split(" ")[0]!;
    runs.set(id, (runs.get(id) ?? 0) + 1);
  }
  let twice = 0;
  for (const n of runs.values()) if (n > 1) twice++;
  return twice;
}

export interface DrainOptions {
  target: Target;
  runsFile: string;
  tasks: number;
  /** How long each task sleeps after noting its run. */
  taskMs: number;
  concurrency: number;
  /** Wait for the whole run, from the first send. */
  timeoutMs: number;
}

interface Fault {
  /** Breaks something; resolves once it is broken. */
  inflict(worker: RunningProcess): Promise<void>;
  /** Mends it; resolves with the worker to go on with once it is whole again (`restart` starts a new one). */
  mend(worker: RunningProcess, restart: () => Promise<RunningProcess>): Promise<RunningProcess>;
}

/**
 * Sends `tasks` acksLate tasks, and each time a further share of them has
 * completed, inflicts a fault and mends it; then waits for every task and
 * counts what was lost and what ran twice.
 */
async function drainThroughFaults(scenario: string, o: DrainOptions, faults: Fault[], late?: { during: number; sends: number }): Promise<Outcome> {
  const app = producer(o.target);
  const env = workerEnv(o.target);
  const args = ["-P", "async", "-c", String(o.concurrency), "-l", "info"];
  const workers: RunningProcess[] = [];
  const start = async () => {
    const w = await startWorker(FAULT_APP, args, env);
    workers.push(w);
    return w;
  };
  try {
    const deadline = Date.now() + o.timeoutMs;
    const results = Array.from({ length: o.tasks }, () => app.sendTask<number>("fault.recordThenSleep", [o.runsFile, o.taskMs]));
    await Promise.all(results.map((r) => r.sent));
    let worker = await start();
    const tracker = new CompletionTracker(results, deadline);
    const recoveries: number[] = [];
    const lateResults: AsyncResult[] = [];
    for (const [i, fault] of faults.entries()) {
      // At least one completion first: a fault to an idle worker is one of the cases.
      const share = Math.max(1, Math.floor((o.tasks * (i + 1)) / (faults.length + 1)));
      await waitUntil(
        () => `${share} of ${o.tasks} completed before fault ${i + 1} (${tracker.completed} so far)`,
        () => assertAlive(worker) && tracker.completed >= share,
        deadline - Date.now(),
        10,
      );
      const faultAt = Date.now();
      await fault.inflict(worker);
      if (late && late.during === i) {
        const sends = Array.from({ length: late.sends }, () => app.sendTask<number>("fault.recordThenSleep", [o.runsFile, o.taskMs]));
        lateResults.push(...sends);
        tracker.track(sends);
      }
      worker = await fault.mend(worker, start);
      const backAt = Date.now();
      await waitUntil(
        () => `a task to complete after fault ${i + 1}; the worker's last lines:\n${worker.output().slice(-3000)}`,
        () => assertAlive(worker) && (tracker.firstAfter(backAt) !== null || tracker.settled),
        deadline - Date.now(),
        10,
      );
      // Settled with nothing completed since: every task left was done before, or its send failed.
      if (tracker.firstAfter(backAt) === null) {
        const unsent = (await Promise.allSettled(lateResults.map((r) => r.sent))).filter((s) => s.status === "rejected");
        assert.fail(`no task completed after fault ${i + 1}: nothing was left to run (${unsent.length} of ${lateResults.length} sends made during it failed)`);
      }
      recoveries.push(tracker.firstAfter(backAt)! - faultAt);
    }
    await waitUntil(
      () => `every result (${tracker.completed} so far)`,
      () => assertAlive(worker) && tracker.settled,
      deadline + 1000 - Date.now(),
      25,
    );
    // Sends made while the broker was down count only once it confirmed them.
    const confirmed = (await Promise.allSettled(lateResults.map((r) => r.sent))).flatMap((p, k) => (p.status === "fulfilled" ? [lateResults[k]!] : []));
    const sent = results.length + confirmed.length;
    const completed = tracker.completed;
    const lostIds = [...results, ...confirmed].filter((r) => !tracker.completedAt.has(r.id)).map((r) => r.id);
    return {
      scenario,
      broker: o.target.broker,
      sent,
      completed,
      lost: sent - completed,
      lostIds,
      runTwice: countRunTwice(o.runsFile),
      recoverySeconds: recoveries.length ? Math.max(...recoveries) / 1000 : null,
      worker,
      workers,
    };
  } finally {
    await app.close();
  }
}

/** kill -9 of the worker's whole process group `kills` times while it drains acksLate tasks, restarted each time. */
export function killWorkerWhileDraining(o: DrainOptions & { kills: number }): Promise<Outcome> {
  const fault: Fault = {
    async inflict(worker) {
      worker.signalGroup("SIGKILL");
      await worker.exited;
    },
    mend: (_dead, restart) => restart(),
  };
  return drainThroughFaults(`kill -9 worker ×${o.kills}`, o, Array(o.kills).fill(fault));
}

/** A broker (or the whole Redis) broken once mid-run and mended; the same worker must carry on. */
export function breakBrokerWhileDraining(
  scenario: string,
  o: DrainOptions,
  broker: { inflict(): Promise<void>; mend(): Promise<void> },
  lateSends = 0,
): Promise<Outcome> {
  const fault: Fault = {
    inflict: () => broker.inflict(),
    async mend(worker) {
      await broker.mend();
      return worker;
    },
  };
  return drainThroughFaults(scenario, o, [fault], lateSends ? { during: 0, sends: lateSends } : undefined);
}

/**
 * kill -9 of the (private) Redis mid-run, started again on the same
 * append-only file after `downMs`; `lateSends` tasks are sent while it is down.
 */
export function killRedisWhileDraining(o: DrainOptions, redis: OwnRedis, downMs: number, lateSends = 0): Promise<Outcome> {
  const name = `kill -9 Redis (appendonly), down ${downMs / 1000} s, -c ${o.concurrency}${o.tasks === 1 ? ", idle" : ""}`;
  return breakBrokerWhileDraining(
    name,
    o,
    {
      inflict: () => redis.kill(),
      mend: async () => {
        await pause(downMs);
        await redis.start();
      },
    },
    lateSends,
  );
}

/** SIGSTOP of the (private) Redis for `stallMs`, then SIGCONT: connections stay open and nothing answers. */
export function stallRedisWhileDraining(o: DrainOptions, redis: OwnRedis, stallMs: number): Promise<Outcome> {
  return breakBrokerWhileDraining(`SIGSTOP Redis ${stallMs / 1000} s`, o, {
    inflict: async () => redis.pause(),
    mend: async () => {
      await pause(stallMs);
      redis.resume();
    },
  });
}

/** kill -9 of the (private) RabbitMQ node mid-run, booted again; `lateSends` tasks are sent while it is down. */
export function killRabbitWhileDraining(o: DrainOptions, rabbit: OwnRabbit, lateSends: number): Promise<Outcome> {
  return breakBrokerWhileDraining("kill -9 RabbitMQ node", o, { inflict: () => rabbit.kill(), mend: () => rabbit.start() }, lateSends);
}

/**
 * kill -9 of a Sentinel set's master mid-run; the sentinels promote a replica
 * and the same worker (and the producer, sending `lateSends` tasks meanwhile)
 * must follow it. Redis replicates asynchronously: writes the master took in
 * its last moments may be gone, so `lost` counts them rather than asserting 0.
 */
export function killSentinelMasterWhileDraining(o: DrainOptions, set: SentinelSet, lateSends: number): Promise<Outcome> {
  return killMasterWhileDraining("Sentinel", o, set, lateSends);
}

/** Servers with a master that can be killed and a replica that takes over (a Sentinel set, a Redis Cluster). */
export interface FailingOver {
  killMaster(): Promise<number>;
  promoted(killedPort: number): Promise<number>;
}

export function killMasterWhileDraining(kind: string, o: DrainOptions, set: FailingOver, lateSends: number): Promise<Outcome> {
  let killed = 0;
  return breakBrokerWhileDraining(
    `kill -9 ${kind} master, -c ${o.concurrency}`,
    o,
    {
      inflict: async () => void (killed = await set.killMaster()),
      mend: async () => void (await set.promoted(killed)),
    },
    lateSends,
  );
}

/**
 * What a Redis master failover (Sentinel or Cluster) must leave: the one worker
 * up and still running, every late send confirmed by the new master, at most a
 * handful lost (replication is asynchronous), recovery within 20 s, the loss
 * told (`lossLine`), nothing escaped; then a warm shutdown. Prints the figures.
 */
export async function assertMasterFailover(what: string, outcome: Outcome, expectedSent: number, lossLine: RegExp): Promise<void> {
  try {
    process.stderr.write(
      `${what}: sent ${outcome.sent}, completed ${outcome.completed}, lost ${outcome.lost}, run twice ${outcome.runTwice}, ` +
        `${outcome.recoverySeconds} s from the kill to the next completion\n`,
    );
    assert.equal(outcome.workers.length, 1, "the one worker carried on");
    assert.ok(outcome.worker.proc.exitCode === null && outcome.worker.proc.signalCode === null, "the worker is up");
    assert.equal(outcome.sent, expectedSent, "every send made while the master was down was confirmed by the new one");
    // Asynchronous replication: what the master took in its last milliseconds may be gone. A handful, never a share.
    assert.ok(outcome.lost <= 5, `lost ${outcome.lost} of ${outcome.sent}: ${outcome.lostIds.slice(0, 5).join(", ")}`);
    assert.ok(outcome.recoverySeconds !== null && outcome.recoverySeconds < 20, `recovered in ${outcome.recoverySeconds} s`);
    assert.match(outcome.worker.output(), lossLine, "the worker told of the master's loss");
    assert.doesNotMatch(outcome.worker.output(), /unhandled rejection|uncaught exception/);
  } finally {
    assert.equal(await outcome.worker.stop(), 0, `warm shutdown; output:\n${outcome.worker.output().slice(-3000)}`);
  }
}
