// The gate between a worker's reserved jobs and its pool for rate-limited
// tasks: a token bucket per task on this worker, and for a task with a global
// limit, the bucket its workers share in the broker. The worker asks it whether
// a job may start now; the gate calls the worker back when one may.
import type { Broker } from "../brokers/broker.js";
import type { Settings } from "../config.js";
import type { Logger } from "../log.js";
import type { Task } from "../task.js";
import { TokenBucket, parseRate } from "./rate-limit.js";

/** What the gate needs of the worker whose jobs it holds. */
export interface RateGateHost<J> {
  /** The worker's broker, which keeps the shared buckets (asked for only once the worker has started). */
  broker(): Broker;
  /** Starts a job that has its token. */
  start(job: J): void;
  /** Puts a job that must wait for its token back first in line. */
  putBack(job: J): void;
  /** Looks again at the jobs in line: a bucket has a token for one of them now. */
  pump(): void;
}

export class RateGate<J extends { task: Task }> {
  /** By task name; null for a task without a limit, so it is looked up once. */
  private readonly buckets = new Map<string, TokenBucket | null>();
  /** Jobs asking the broker for a global token: the pool slots they will start in. */
  private asking = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** `settings` is read as the worker goes (as the app's settings are everywhere). */
  constructor(
    private readonly settings: Settings,
    private readonly disabledByOption: boolean,
    private readonly log: Logger,
    private readonly host: RateGateHost<J>,
  ) {}

  /** Pool slots spoken for by jobs waiting on the broker's answer: the worker must not fill them. */
  get slotsHeld(): number {
    return this.asking;
  }

  private get disabled(): boolean {
    return this.disabledByOption || this.settings.workerDisableRateLimits;
  }

  /**
   * Takes a token from the task's bucket on this worker: 0 when the job may
   * start (the task has no limit here, or there was a token), else the ms
   * until one is due. Called for every job, so a task without a limit costs
   * one Map lookup.
   */
  takeLocalToken(task: Task): number {
    if (this.disabled) return 0;
    let bucket = this.buckets.get(task.name);
    if (bucket === undefined) {
      const rate = task.options.rateLimit ?? this.settings.taskDefaultRateLimit;
      bucket = rate ? new TokenBucket(parseRate(rate)) : null;
      this.buckets.set(task.name, bucket);
    }
    return bucket ? bucket.take() : 0;
  }

  /** Whether the job must also pass its task's global limit (see passGlobalLimit) before it starts. */
  needsGlobalToken(task: Task): boolean {
    return !!task.options.globalRateLimit && !!this.host.broker().takeToken && !this.disabled;
  }

  /**
   * Asks the broker's shared bucket for the job's token, holding its pool slot
   * meanwhile (`slotsHeld`); then starts it, or puts it back first in line and
   * looks again when the broker says a token is due. A broker that cannot
   * answer is asked again a second later. Only for a job whose task
   * needsGlobalToken.
   */
  async passGlobalLimit(job: J): Promise<void> {
    const { task } = job;
    this.asking++;
    let wait: number;
    try {
      wait = await this.host.broker().takeToken!(`celeriac.rate.${task.name}`, parseRate(task.options.globalRateLimit!));
    } catch (err) {
      this.log.warn(`global rate limit of ${task.name} unavailable (${(err as Error).message}); retrying`);
      wait = 1000;
    } finally {
      this.asking--;
    }
    // Started in the same turn as the slot is released, so no other job takes it in between.
    if (wait === 0 && !this.stopped) {
      this.host.start(job);
      return;
    }
    this.host.putBack(job);
    this.retryIn(wait || 100);
  }

  /** Has the worker look again in `ms` (Infinity: no job waits on a bucket), unless a look is already due: it sees every waiting job. */
  retryIn(ms: number): void {
    if (ms !== Infinity && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.host.pump();
      }, ms);
    }
  }

  /** Sets a task's limit on this worker (the rate_limit command); null removes it. */
  setRate(taskName: string, rate: string | null): void {
    this.buckets.set(taskName, rate ? new TokenBucket(parseRate(rate)) : null);
  }

  /** No job starts from here on; the pending retry is dropped. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
