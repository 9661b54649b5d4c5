// The checks a message passes on arrival, before it may wait for a pool slot:
// it decodes (within the size limit, in an accepted content type), its task
// is registered, it is not revoked, not expired, and due. A message that
// passes becomes a Job; one that does not is settled here.
import type { Celeriac } from "../app.js";
import type { Broker, Delivery } from "../brokers/broker.js";
import { ConfigurationError, DecodeError, TaskNotRegistered } from "../errors.js";
import { logSafe, type Logger } from "../log.js";
import { decodeTask, parseIsoTime, type DecodeLimits, type TaskMessage } from "../protocol/message.js";
import type { TaskRequest } from "../task.js";
import type { Acker } from "./acker.js";
import { nameOf, type Job } from "./job.js";
import type { ResultWriter } from "./results.js";
import type { RevokedSet } from "./revoked.js";
import type { TaskEvents } from "./task-events.js";

/** An ETA this close (ms) counts as due: not worth a round trip to the broker's schedule. */
const DUE_SLACK_MS = 5;

/** What the checks need of the worker. */
export interface ReceiptHost {
  readonly app: Celeriac;
  readonly hostname: string;
  /** The worker-wide soft time limit (seconds), for a task message without its own. */
  readonly softTimeLimit: number | null;
  readonly revoked: RevokedSet;
  readonly results: ResultWriter;
  readonly acker: Acker;
  readonly log: Logger;
  broker(): Broker;
  events(): TaskEvents | null;
}

/** The worker's message size limit, checked once: a positive number of bytes or null (no limit). */
export function decodeLimitsOf(sizeLimit: unknown): DecodeLimits {
  if (sizeLimit !== null && !(typeof sizeLimit === "number" && sizeLimit > 0)) {
    throw new ConfigurationError(`workerMessageSizeLimit must be a positive number of bytes or null, got ${JSON.stringify(sizeLimit)}`);
  }
  return { messageSizeLimit: sizeLimit };
}

export class Receipt {
  private readonly decodeLimits: DecodeLimits;
  private readonly infoEnabled: boolean;

  constructor(private readonly host: ReceiptHost) {
    this.decodeLimits = decodeLimitsOf(host.app.settings.workerMessageSizeLimit);
    this.infoEnabled = host.log.isLevelEnabled("info");
  }

  /**
   * Checks one delivery: the Job to reserve when it may run (synchronously:
   * the common case allocates no promise), else the promise of settling it
   * here. The promise never rejects: a failure is logged and the message,
   * still leased, comes back.
   */
  check(delivery: Delivery): Job | Promise<void> {
    let msg: TaskMessage;
    try {
      msg = decodeTask(delivery.message, this.host.app.settings.acceptContent, this.decodeLimits);
    } catch (err) {
      return this.dropUnreadable(delivery, err as Error);
    }
    const h = msg.headers;
    const { log } = this.host;
    if (msg.warnings) for (const w of msg.warnings) log.warn(`task ${logSafe(h.task)}[${logSafe(h.id)}]: ${w}`);
    const task = this.host.app.tasks.get(h.task);
    if (!task) return this.dropUnregistered(delivery, msg);
    const now = Date.now();
    const expires = h.expires === null ? null : parseIsoTime(h.expires);
    const acksLate = task.options.acksLate ?? this.host.app.settings.taskAcksLate;
    const job: Job = { delivery, msg, task, request: this.requestOf(msg, delivery), acksLate, acked: false, expiresAt: expires };
    const eta = h.eta === null ? null : parseIsoTime(h.eta);
    if (this.host.revoked.has(h.id) || (expires !== null && expires <= now)) {
      // received first, so monitors learn the task's name and arguments.
      this.host.events()?.received(msg);
      return this.notRun(job, this.host.revoked.has(h.id) ? "revoked" : "expired");
    }
    if (eta !== null && eta > now + DUE_SLACK_MS) return this.postpone(job, eta);
    if (this.infoEnabled) log.info(`task ${logSafe(h.task)}[${logSafe(h.id)}] received`);
    this.host.events()?.received(msg);
    return job;
  }

  /** A revoked or expired message: REVOKED stored and the message acked, by the acker's one path for it. */
  private async notRun(job: Job, why: "revoked" | "expired"): Promise<void> {
    try {
      await this.host.acker.record(job, { kind: "revoked", why });
    } catch (err) {
      this.host.log.error(`task ${nameOf(job)}: cannot settle on receipt: ${(err as Error).message}`);
    }
  }

  /**
   * A message that is not due yet (a Python producer puts ETA tasks straight
   * in the queue): handed back to the broker's schedule instead of held here.
   */
  private async postpone(job: Job, eta: number): Promise<void> {
    const { delivery } = job;
    try {
      await this.host.broker().publish({ queue: delivery.queue }, delivery.message, { eta, priority: delivery.message.properties.priority });
      await this.host.broker().ack([delivery]);
    } catch (err) {
      this.host.log.error(`task ${nameOf(job)}: cannot hand it back until it is due: ${(err as Error).message}`);
    }
  }

  /** A task this worker does not know: FAILURE stored, the message dropped (Celery does the same). */
  private async dropUnregistered(delivery: Delivery, msg: TaskMessage): Promise<void> {
    const h = msg.headers;
    const name = `${logSafe(h.task)}[${logSafe(h.id)}]`;
    this.host.log.error(`received unregistered task ${name}; message dropped`);
    const err = new TaskNotRegistered(`received unregistered task ${JSON.stringify(h.task)} [${h.id}]; message dropped`);
    await this.host.results.storeFailure(msg, delivery.queue, err);
    await this.host
      .broker()
      .reject(delivery, false)
      .catch((e: Error) => this.host.log.error(`task ${name}: cannot drop its message: ${e.message}`));
  }

  /**
   * A message that cannot run as it is (unreadable, too large, missing or bad
   * fields): logged with the reason, FAILURE stored when it has a usable id,
   * and dropped: redelivering it would fail the same way forever.
   */
  private async dropUnreadable(delivery: Delivery, err: Error): Promise<void> {
    const { log } = this.host;
    const headers: unknown = delivery.message.headers;
    const h = headers !== null && typeof headers === "object" ? (headers as Record<string, unknown>) : {};
    const id = typeof h.id === "string" && h.id ? h.id : null;
    const name = typeof h.task === "string" && h.task ? h.task : "?";
    log.error(
      `cannot read message ${logSafe(name)}[${id === null ? "no id" : logSafe(id)}] from queue ${logSafe(delivery.queue)}: ${logSafe(err.message, 500)}; message dropped`,
    );
    if (id) {
      const exc = err instanceof DecodeError ? err : new DecodeError(err.message);
      const p = delivery.message.properties;
      const replyTo = typeof p?.reply_to === "string" ? p.reply_to : null;
      const correlationId = typeof p?.correlation_id === "string" ? p.correlation_id : id;
      await this.host.results
        .storeUnreadable(id, replyTo, correlationId, exc)
        .catch((e: Error) => log.error(`task ${logSafe(id)}: cannot store its FAILURE: ${e.message}`));
    }
    await this.host
      .broker()
      .reject(delivery, false)
      .catch((e: Error) => log.error(`cannot drop message ${logSafe(id ?? "with no id")}: ${e.message}`));
  }

  /** The request a task sees as `this.request`. */
  private requestOf(msg: TaskMessage, delivery: Delivery): TaskRequest {
    const h = msg.headers;
    return {
      id: h.id,
      task: h.task,
      args: msg.args,
      kwargs: msg.kwargs,
      retries: h.retries,
      hostname: this.host.hostname,
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
      timeLimit: [h.timelimit[0] ?? null, h.timelimit[1] ?? this.host.softTimeLimit],
      headers: h,
      callbacks: msg.embed.callbacks ?? null,
      errbacks: msg.embed.errbacks ?? null,
      chain: msg.embed.chain ?? null,
      chord: msg.embed.chord ?? null,
      properties: msg.properties,
      ignoreResult: h.ignore_result,
      isEager: false,
    };
  }
}
