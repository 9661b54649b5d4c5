// Publish retry and timeout, and no silent loss of a send: Celery's
// task_publish_retry / task_publish_retry_policy (kombu's Connection.ensure with
// retry_over_time), done once per broker write, not once per send. A broker hands
// every send of a tick the same write promise (the Redis batch), so the sends of
// that write share one guard: the happy path adds no promise, closure or timer per
// send, only a few array slots.
import type { Broker, PublishOptions, Route } from "./brokers/broker.js";
import type { PublishRetryPolicy } from "./config.js";
import { ConfigurationError, PublishError } from "./errors.js";
import { logSafe, type Logger } from "./log.js";
import type { Message } from "./protocol/message.js";
import type { AsyncResult } from "./result.js";
import { maskUrl } from "./url.js";

/** What the sender needs from the app. */
export interface SenderHost {
  broker(): Promise<Broker>;
  readonly log: Logger;
  readonly settings: { taskPublishRetry: boolean; taskPublishRetryPolicy: PublishRetryPolicy; taskPublishTimeout: number };
  emit(event: "sendFailed", info: SendFailure): boolean;
}

/** A send that failed for good: the `sendFailed` signal's argument. */
export interface SendFailure {
  taskId: string;
  task: string;
  exception: PublishError;
}

interface Policy {
  maxRetries: number | null;
  intervalStart: number;
  intervalStep: number;
  intervalMax: number;
}

/** A policy as given (camelCase or Celery's snake_case keys) over the defaults. */
function toPolicy(given: PublishRetryPolicy | Record<string, unknown> | undefined, base: Policy): Policy {
  if (!given) return base;
  const g = given as Record<string, unknown>;
  const pick = (camel: string, snake: string) => (camel in g ? g[camel] : g[snake]);
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : d);
  const max = pick("maxRetries", "max_retries");
  return {
    maxRetries: max === null ? null : num(max, base.maxRetries ?? 3),
    intervalStart: num(pick("intervalStart", "interval_start"), base.intervalStart),
    intervalStep: num(pick("intervalStep", "interval_step"), base.intervalStep),
    intervalMax: num(pick("intervalMax", "interval_max"), base.intervalMax),
  };
}

const CELERY_POLICY: Policy = { maxRetries: 3, intervalStart: 0, intervalStep: 0.2, intervalMax: 0.2 };

/** Slots per send in Write.sends: result, task name, route, message, publish options. */
const SLOTS = 5;

/** One broker write and the sends it carries: retried, timed out and failed as a whole. */
class Write {
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: PublishError) => void;
  /** Flat: SLOTS entries per send (no object per send). */
  readonly sends: unknown[] = [];
  attempts = 1;
  /** Epoch ms after which the current attempt counts as unanswered; Infinity while waiting to retry. */
  deadline: number;
  settled = false;
  /** Set when the write failed for good. */
  error: PublishError | null = null;
  private current: Promise<void>;

  constructor(
    private readonly sender: Sender,
    attempt: Promise<void>,
    readonly retry: boolean,
    readonly policy: Policy,
  ) {
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.deadline = Date.now() + sender.timeoutMs;
    this.current = attempt;
    this.listen(attempt);
  }

  private listen(attempt: Promise<void>): void {
    // An earlier attempt that lands late is a success too (the message is there).
    attempt.then(
      () => this.succeed(),
      (err: unknown) => {
        if (attempt === this.current) this.failed(err, true);
      },
    );
  }

  private succeed(): void {
    if (this.settled) return;
    this.settled = true;
    this.sender.done(this);
    this.sends.length = 0; // the messages are the broker's now; a shared settled write keeps none alive
    this.resolve();
  }

  /** Seconds to wait before retry number `n` (kombu's retry_over_time intervals). */
  private interval(n: number): number {
    const p = this.policy;
    return Math.min(p.intervalMax, p.intervalStart + (n - 1) * p.intervalStep);
  }

  /**
   * An attempt failed (`resend`: with an error, so the messages go again) or got
   * no answer in time (its write may still land: wait on it once more, never
   * sending a duplicate of a message the broker may have).
   */
  failed(err: unknown, resend: boolean): void {
    if (this.settled) return;
    const max = this.policy.maxRetries;
    const fatal = err instanceof ConfigurationError;
    if (!this.retry || fatal || (max !== null && this.attempts > max)) return this.giveUp(err);
    const wait = this.interval(this.attempts);
    this.sender.log.warn(
      `publishing ${this.describe()} failed (attempt ${this.attempts}${max === null ? "" : ` of ${max + 1}`}): ${maskUrl(errorText(err))}; retrying in ${wait} s`,
    );
    this.attempts++;
    this.deadline = Infinity;
    setTimeout(() => this.again(resend), wait * 1000);
  }

  private again(resend: boolean): void {
    if (this.settled) return;
    this.deadline = Date.now() + this.sender.timeoutMs;
    if (!resend) return;
    const attempt = this.sender.host.broker().then((b) => {
      const writes: Promise<void>[] = [];
      for (let i = 0; i < this.sends.length; i += SLOTS) {
        const w = b.publish(this.sends[i + 2] as Route, this.sends[i + 3] as Message, this.sends[i + 4] as PublishOptions);
        if (!writes.includes(w)) writes.push(w);
      }
      return Promise.all(writes).then(() => undefined);
    });
    this.current = attempt;
    this.listen(attempt);
  }

  /** "task add[id]", or "3 tasks (add[id], …)": names and ids as logSafe prints them. */
  describe(): string {
    const n = this.sends.length / SLOTS;
    const first = `${logSafe(this.sends[1])}[${logSafe((this.sends[0] as AsyncResult).id)}]`;
    return n === 1 ? `task ${first}` : `${n} tasks (${first} and ${n - 1} more)`;
  }

  giveUp(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.sender.done(this);
    const tasks: { task: string; taskId: string }[] = [];
    for (let i = 0; i < this.sends.length; i += SLOTS) tasks.push({ task: this.sends[i + 1] as string, taskId: (this.sends[i] as AsyncResult).id });
    const tries = this.attempts === 1 ? "" : ` after ${this.attempts} attempts`;
    const error = new PublishError(`sending ${this.describe()} failed${tries}: ${maskUrl(errorText(err))}`, { cause: err, tasks, attempts: this.attempts });
    this.error = error;
    this.reject(error);
    this.sender.failedFor(this, error);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The app's sends in flight: their guards, the one timer that times them out, and failures nobody saw. */
export class Sender {
  private readonly shared = new WeakMap<Promise<void>, Write>();
  private readonly inFlight = new Set<Write>();
  private sweeper: NodeJS.Timeout | null = null;
  /** Failed sends whose `sent` nobody looked at: logged, and reported again by app.close(). */
  readonly unseen: PublishError[] = [];
  private policyCache: { given: unknown; policy: Policy } | null = null;

  constructor(readonly host: SenderHost) {}

  get log(): Logger {
    return this.host.log;
  }

  get timeoutMs(): number {
    return this.host.settings.taskPublishTimeout * 1000;
  }

  private defaultPolicy(): Policy {
    const given = this.host.settings.taskPublishRetryPolicy;
    if (this.policyCache?.given !== given) this.policyCache = { given, policy: toPolicy(given, CELERY_POLICY) };
    return this.policyCache.policy;
  }

  /**
   * The guarded promise for a send whose write is `attempt`. Sends with the
   * app's policy share their write's guard; `retry`/`retryPolicy` given per
   * send (Celery's apply_async names) get one of their own.
   */
  track(
    attempt: Promise<void>,
    result: AsyncResult,
    task: string,
    route: Route,
    message: Message,
    opts: PublishOptions,
    retry?: boolean,
    retryPolicy?: PublishRetryPolicy,
  ): Promise<void> {
    const own = retry !== undefined || retryPolicy !== undefined;
    let write = own ? undefined : this.shared.get(attempt);
    // A write that succeeded already (a broker may hand out one settled promise for
    // many ticks, as the memory broker does) needs no record of its sends.
    if (write?.settled && !write.error) return write.promise;
    if (!write || write.settled) {
      const policy = retryPolicy ? toPolicy(retryPolicy, this.defaultPolicy()) : this.defaultPolicy();
      write = new Write(this, attempt, retry ?? this.host.settings.taskPublishRetry, policy);
      if (!own) this.shared.set(attempt, write);
      this.inFlight.add(write);
      this.sweeper ??= setInterval(() => this.sweep(), Math.max(20, Math.min(1000, this.timeoutMs / 4))).unref();
    }
    write.sends.push(result, task, route, message, opts);
    return write.promise;
  }

  /** Fails attempts that got no answer in taskPublishTimeout; stops itself when nothing is in flight. */
  private sweep(): void {
    if (!this.inFlight.size) {
      clearInterval(this.sweeper!);
      this.sweeper = null;
      return;
    }
    const now = Date.now();
    for (const w of this.inFlight) {
      if (now > w.deadline) w.failed(new Error(`no answer from the broker in ${this.host.settings.taskPublishTimeout} s`), false);
    }
  }

  done(write: Write): void {
    this.inFlight.delete(write);
  }

  /** Every failed send is signalled; one whose `sent` nobody looked at is also logged at ERROR, so it is not lost silently. */
  failedFor(write: Write, error: PublishError): void {
    let unseen = false;
    for (let i = 0; i < write.sends.length; i += SLOTS) {
      const result = write.sends[i] as AsyncResult;
      const task = write.sends[i + 1] as string;
      if (!result.sentObserved) {
        unseen = true;
        this.log.error(`task ${logSafe(task)}[${logSafe(result.id)}] was not sent: ${error.message}`);
      }
      try {
        this.host.emit("sendFailed", { taskId: result.id, task, exception: error });
      } catch (err) {
        this.log.error(`a sendFailed handler threw: ${errorText(err)}`);
      }
    }
    if (unseen) this.unseen.push(error);
  }

  /**
   * Waits up to `timeoutMs` for the sends in flight; those still unsettled
   * then fail. Returns the failures nobody looked at (and forgets them).
   */
  async drain(timeoutMs: number): Promise<PublishError[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const left = new Promise<void>((r) => (timer = setTimeout(r, deadline - Date.now())));
      await Promise.race([Promise.allSettled([...this.inFlight].map((w) => w.promise)), left]);
      clearTimeout(timer);
    }
    for (const w of [...this.inFlight]) w.giveUp(new Error(`still sending when the app closed (waited ${timeoutMs / 1000} s)`));
    return this.unseen.splice(0);
  }
}
