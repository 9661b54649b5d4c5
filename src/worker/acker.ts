// What becomes of a job once its outcome is known: one path per outcome
// (success, failure, retry, reject, ignore, lost, revoked), each storing what
// Celery stores, telling monitors, continuing the workflow, and settling the
// message (ack, requeue or drop). Acks are batched. Whatever fails on the way,
// the message is settled: an outcome that cannot be recorded never leaves it
// unacked (see unrecorded).
import type { Celeriac } from "../app.js";
import type { Broker, Delivery } from "../brokers/broker.js";
import { chordPartAfterSuccess, continueAfterFailure, continueAfterRevoked, hasSuccessContinuation, sendSuccessors } from "../canvas/continuation.js";
import {
  DecodeError,
  EncodeError,
  InvalidTaskOptions,
  RetryNotSent,
  TaskRevokedError,
  WorkerLostError,
  serializeError,
  tracebackOf,
  type ExceptionInfo,
} from "../errors.js";
import { logSafe, type Logger } from "../log.js";
import { isoWithOffset, type Message } from "../protocol/message.js";
import { repr } from "../protocol/repr.js";
import type { ResultTuple } from "../result.js";
import { States } from "../states.js";
import { collectingTrail } from "../trail.js";
import { WriteBatcher } from "../util/batcher.js";
import { nameOf, type Job, type TaskCounts } from "./job.js";
import type { PoolOutcome } from "./pool.js";
import type { ResultWriter } from "./results.js";
import type { TaskEvents } from "./task-events.js";

/** What the acker needs of the worker. */
export interface AckerHost {
  /** The worker's node name, for the log fields. */
  readonly hostname: string;
  readonly app: Celeriac;
  readonly results: ResultWriter;
  readonly counts: TaskCounts;
  readonly log: Logger;
  broker(): Broker;
  events(): TaskEvents | null;
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

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Acker {
  private readonly acks: WriteBatcher<Delivery>;
  private readonly infoEnabled: boolean;

  constructor(private readonly host: AckerHost) {
    // Ack failures are reported here, once per batch (the message comes back: at-least-once).
    // Acks go at the end of the current job: a burst of tasks started together still
    // shares one, and a broker can tell a message acked at once from one held.
    this.acks = new WriteBatcher(
      (batch) =>
        this.host
          .broker()
          .ack(batch)
          .catch((err: Error) => this.host.log.error(`ack failed: ${err.message}`)),
      5000,
      "microtask",
    );
    // Checked once, so a quiet worker builds no log text per task.
    this.infoEnabled = host.log.isLevelEnabled("info");
  }

  /** Acks the job's message with the current batch, once. */
  ack(job: Job): Promise<void> | undefined {
    if (job.acked) return undefined;
    job.acked = true;
    return this.acks.add(job.delivery);
  }

  /** Sends the acks still batched. */
  flush(): Promise<void> {
    return this.acks.flush();
  }

  /**
   * Records an outcome and settles the message. A success with nothing to
   * store and nothing to continue is done in this turn (undefined: no promise
   * is made for the common fire-and-forget task); else the promise of it.
   */
  record(job: Job, outcome: PoolOutcome): Promise<void> | undefined {
    if (outcome.kind === "success" && this.host.results.ignored(job.msg, false, job.task) && !hasSuccessContinuation(job.msg)) {
      this.reportSuccess(job, outcome.value, outcome.runtime);
      return this.ack(job);
    }
    return this.settle(job, outcome);
  }

  private async settle(job: Job, outcome: PoolOutcome): Promise<void> {
    let settled: boolean;
    try {
      settled = await this.apply(job, outcome);
    } catch (err) {
      settled = await this.unrecorded(job, err);
    }
    if (!settled) await this.ack(job);
  }

  /** Records the outcome; true when the message was settled on the way (rejected or requeued), else it is acked next. */
  private async apply(job: Job, outcome: PoolOutcome): Promise<boolean> {
    switch (outcome.kind) {
      case "success":
        await this.succeeded(job, outcome.value, outcome.runtime, [...(outcome.children ?? [])]);
        return false;
      case "failure":
        if (outcome.exc.exc_type === "TaskRevokedError") {
          this.host.log.info(this.fields(job, States.REVOKED), `task ${nameOf(job)} terminated: revoked`);
          this.host.events()?.revoked(job.request.id, { terminated: true, signum: "SIGTERM" });
          await this.revoked(job, outcome.exc);
          return false;
        }
        await this.failed(
          job,
          outcome.exc,
          outcome.traceback,
          `task ${nameOf(job)} raised ${outcome.exc.exc_type}: ${logSafe(String(outcome.exc.exc_message[0] ?? ""), 500)}`,
          [...(outcome.children ?? [])],
          outcome.runtime,
        );
        return false;
      case "revoked":
        if (outcome.why === "expired")
          this.host.log.info(this.fields(job, States.REVOKED), `task ${nameOf(job)} expired at ${logSafe(job.request.expires)}: not run`);
        else this.host.log.info(this.fields(job, States.REVOKED), `task ${nameOf(job)} is revoked: not run`);
        this.host.events()?.revoked(job.request.id, outcome.why === "expired" ? { expired: true } : {});
        await this.revoked(job, serializeError(new TaskRevokedError(outcome.why)));
        return false;
      case "retry":
        await this.retried(job, outcome.countdown, outcome.exc, outcome.traceback, outcome.children);
        return false;
      case "reject":
        return this.rejected(job, outcome.requeue, outcome.reason);
      case "ignore":
        return false;
      case "lost":
        return this.lost(job, outcome.reason);
    }
  }

  /** The fields every task log line carries, so JSON log tools need no regex: taskId, task, state, runtime, worker, queue. */
  private fields(job: Job, state: string, runtime?: number): Record<string, unknown> {
    const { request } = job;
    return {
      taskId: request.id,
      task: request.task,
      state,
      ...(runtime === undefined ? {} : { runtime }),
      worker: this.host.hostname,
      queue: job.delivery.queue,
    };
  }

  private reportSuccess(job: Job, value: unknown, runtime: number): void {
    this.host.counts.succeeded++;
    if (this.infoEnabled)
      this.host.log.info(this.fields(job, States.SUCCESS, runtime), `task ${nameOf(job)} succeeded in ${runtime.toFixed(4)}s: ${repr(value, 200)}`);
    this.host.events()?.succeeded(job.request.id, value, runtime);
  }

  /**
   * Celery's trace order: the callbacks and the chain's next step are sent
   * first, so the stored result names them in its `children` (`trail`, which
   * starts with what the task sent itself); then SUCCESS is stored; then the
   * chord part.
   */
  private async succeeded(job: Job, value: unknown, runtime: number, trail: ResultTuple[]): Promise<void> {
    const { msg, request } = job;
    const app = this.host.app;
    const continues = hasSuccessContinuation(msg);
    if (continues) await this.continueWorkflow(job, () => collectingTrail(trail, () => sendSuccessors(app, msg, value)));
    try {
      await this.host.results.store(msg, job.delivery.queue, States.SUCCESS, value, null, false, trail);
    } catch (err) {
      if (!(err instanceof EncodeError)) throw err;
      // Celery's trace does the same: a result the backend cannot encode fails the task.
      const exc = new EncodeError(`task ${request.task}[${request.id}] returned a value that cannot be stored: ${err.message}`, { cause: err });
      await this.failed(job, exc, tracebackOf(exc), `task ${nameOf(job)} returned a value that cannot be stored: ${logSafe(err.message, 500)}`, trail);
      return;
    }
    this.reportSuccess(job, value, runtime);
    if (continues) await this.continueWorkflow(job, () => collectingTrail(trail, () => chordPartAfterSuccess(app, msg, value)));
  }

  /**
   * A failed task: logged at ERROR with its stack (as Celery logs the
   * traceback), FAILURE stored (with the `children` it started), then its
   * chord part, chain and errbacks.
   */
  private async failed(
    job: Job,
    exc: ExceptionInfo | Error,
    traceback: string | null,
    line: string,
    trail: ResultTuple[] = [],
    runtime?: number,
  ): Promise<void> {
    const { msg } = job;
    const info = exc instanceof Error ? serializeError(exc) : exc;
    this.host.counts.failed++;
    const frames = framesOf(traceback);
    const fields = this.fields(job, States.FAILURE, runtime);
    this.host.log.error(frames ? { ...fields, err: { stack: frames } } : fields, line);
    this.host.events()?.failed(job.request.id, info, traceback);
    await this.host.results.store(msg, job.delivery.queue, States.FAILURE, info, traceback, true, trail);
    await this.continueWorkflow(job, () => collectingTrail(trail, () => continueAfterFailure(this.host.app, msg, info, traceback)));
  }

  /** REVOKED stored; a chord it is part of learns of it. */
  private async revoked(job: Job, exc: ExceptionInfo): Promise<void> {
    await this.host.results.store(job.msg, job.delivery.queue, States.REVOKED, exc, null);
    await this.continueWorkflow(job, () => continueAfterRevoked(this.host.app, job.msg, exc));
  }

  private async retried(job: Job, countdown: number, exc: ExceptionInfo | null, traceback: string | null, children?: ResultTuple[]): Promise<void> {
    const { request } = job;
    this.host.counts.retried++;
    this.host.log.info(
      this.fields(job, States.RETRY),
      `task ${nameOf(job)} retry in ${countdown.toFixed(1)}s: ${logSafe(String(exc?.exc_message[0] ?? ""), 500)}`,
    );
    this.host.events()?.retried(request.id, exc, traceback);
    await this.host.results.store(job.msg, job.delivery.queue, States.RETRY, exc, traceback, false, children);
    try {
      await this.republishForRetry(job.delivery, countdown);
    } catch (err) {
      // A message not acked yet goes back (unrecorded) unless its retry would fail the same way again.
      if (!job.acked && !failsAlways(err)) throw err;
      const reason = messageOf(err);
      const notSent = new RetryNotSent(`task ${request.task}[${request.id}]: its retry cannot be sent: ${reason}`, { cause: err });
      await this.failed(job, notSent, tracebackOf(notSent), `task ${nameOf(job)}: its retry cannot be sent: ${logSafe(reason, 500)}; the task fails`);
    }
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
    await this.host.broker().publish({ queue: delivery.queue }, next, { eta, priority: m.properties.priority });
  }

  /** The task rejected its message (Celery's Reject): dropped or requeued; an acked one is published again to requeue it. */
  private async rejected(job: Job, requeue: boolean, reason: string): Promise<boolean> {
    this.host.log.warn(`task ${nameOf(job)} rejected (${logSafe(reason, 500)})${requeue ? ": requeued" : ""}`);
    this.host.events()?.rejected(job.request.id, requeue);
    if (!job.acked) await this.host.broker().reject(job.delivery, requeue);
    else if (requeue) await this.host.broker().publish({ queue: job.delivery.queue }, job.delivery.message);
    return true;
  }

  /** The process or thread running it died. */
  private async lost(job: Job, reason: string): Promise<boolean> {
    // Not acked yet means acked late: at least once, the message goes back and another child runs it.
    if (!job.acked && (job.task.options.rejectOnWorkerLost ?? this.host.app.settings.taskRejectOnWorkerLost ?? true)) {
      this.host.log.error(`task ${nameOf(job)}: ${reason}; message requeued`);
      await this.host.broker().reject(job.delivery, true);
      return true;
    }
    await this.failed(job, serializeError(new WorkerLostError(reason)), null, `task ${nameOf(job)}: ${reason}`);
    return false;
  }

  /**
   * Runs what comes after the task (callbacks, chain, chord part, errbacks).
   * One that can never be sent (a malformed signature in the embed) is logged
   * and the message acked: the task's own result is stored, and running it
   * again would fail the same way. Any other failure (the broker is away) is
   * the outcome's: a message not acked yet goes back (see unrecorded).
   */
  private async continueWorkflow(job: Job, next: () => Promise<void>): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (!failsAlways(err)) throw err;
      this.host.log.error(
        `task ${nameOf(job)}: cannot continue its workflow (callbacks, chain, chord): ${logSafe(messageOf(err), 500)}; its own result is stored`,
      );
    }
  }

  /**
   * An outcome that could not be recorded (the backend or broker failed under
   * it). A message not acked yet (acked late, or never started) goes back to
   * the queue and runs again (at least once), unless it would fail the same
   * way every time: that one, like an early-acked one, gets FAILURE stored
   * where possible and is acked, so no message loops forever and no caller's
   * get() waits for nothing. Returns whether the message is settled.
   */
  private async unrecorded(job: Job, err: unknown): Promise<boolean> {
    const reason = logSafe(messageOf(err), 500);
    if (!job.acked && !failsAlways(err)) {
      this.host.log.error(`task ${nameOf(job)}: cannot record its outcome: ${reason}; message requeued`);
      await this.host.broker().reject(job.delivery, true);
      return true;
    }
    this.host.log.error(`task ${nameOf(job)}: cannot record its outcome: ${reason}`);
    await this.host.results.storeFailure(job.msg, job.delivery.queue, err instanceof Error ? err : new Error(String(err)));
    return false;
  }
}
