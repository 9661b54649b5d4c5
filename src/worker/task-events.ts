// What a worker tells monitors: Celery's task events (one call per state
// change of a task) and worker events (online, heartbeat, offline), with the
// fields Celery's worker sends. Task events go out only when enabled (-E /
// workerSendTaskEvents); worker events always, as Celery's worker does, so
// monitors see the worker even without -E.
import type { Broker } from "../brokers/broker.js";
import type { ExceptionInfo } from "../errors.js";
import { EventDispatcher } from "../events/dispatcher.js";
import { Heartbeat, type HeartbeatSource } from "../events/heartbeat.js";
import type { Logger } from "../log.js";
import type { TaskMessage } from "../protocol/message.js";
import { repr } from "../protocol/repr.js";

/** Python's repr of an exception: `ValueError('nope')`. */
export function exceptionRepr(exc: ExceptionInfo | null | undefined): string {
  if (!exc) return "Exception()";
  const args = Array.isArray(exc.exc_message) ? exc.exc_message : [exc.exc_message];
  return `${exc.exc_type}(${args.map((a) => repr(a, 500)).join(", ")})`;
}

export class TaskEvents {
  readonly dispatcher: EventDispatcher;
  private readonly heart: Heartbeat;

  constructor(
    broker: Broker,
    hostname: string,
    taskEvents: boolean,
    source: HeartbeatSource,
    log: Logger,
    private readonly heartbeat = true,
  ) {
    this.dispatcher = new EventDispatcher(broker, { hostname, groups: taskEvents ? null : ["worker"], log, bufferGroups: ["task"] });
    this.heart = new Heartbeat(this.dispatcher, source);
    this.taskOn = this.dispatcher.enabledFor("task-received");
  }

  /** Whether task events are being sent (remote control may switch them). */
  get taskEventsEnabled(): boolean {
    return this.dispatcher.enabledFor("task-received");
  }

  /** Checked first by every task event, so a worker without -E builds no event payloads per task. */
  private taskOn: boolean;

  setTaskEvents(on: boolean): void {
    this.dispatcher.groups = on ? null : new Set(["worker"]);
    this.taskOn = this.dispatcher.enabledFor("task-received");
  }

  start(): void {
    if (this.heartbeat) this.heart.start();
  }

  stop(): Promise<void> {
    return this.heart.stop();
  }

  received(msg: TaskMessage): void {
    if (!this.taskOn) return;
    const h = msg.headers;
    this.dispatcher.send("task-received", {
      uuid: h.id,
      name: h.task,
      args: h.argsrepr,
      kwargs: h.kwargsrepr,
      root_id: h.root_id,
      parent_id: h.parent_id,
      retries: h.retries ?? 0,
      eta: h.eta,
      expires: h.expires,
    });
  }

  started(id: string): void {
    if (!this.taskOn) return;
    this.dispatcher.send("task-started", { uuid: id });
  }

  succeeded(id: string, value: unknown, runtime: number): void {
    if (!this.taskOn) return;
    this.dispatcher.send("task-succeeded", { uuid: id, result: repr(value), runtime });
  }

  failed(id: string, exc: ExceptionInfo | null, traceback: string | null): void {
    if (!this.taskOn) return;
    this.dispatcher.send("task-failed", { uuid: id, exception: exceptionRepr(exc), traceback: traceback ?? "" });
  }

  retried(id: string, exc: ExceptionInfo | null, traceback: string | null): void {
    if (!this.taskOn) return;
    this.dispatcher.send("task-retried", { uuid: id, exception: exceptionRepr(exc), traceback: traceback ?? "" });
  }

  revoked(id: string, why: { terminated?: boolean; expired?: boolean; signum?: string | null } = {}): void {
    if (!this.taskOn) return;
    this.dispatcher.send("task-revoked", { uuid: id, terminated: why.terminated ?? false, signum: why.signum ?? null, expired: why.expired ?? false });
  }

  rejected(id: string, requeue: boolean): void {
    if (!this.taskOn) return;
    this.dispatcher.send("task-rejected", { uuid: id, requeue });
  }
}
