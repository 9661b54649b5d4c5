// Celery's events: plain JSON objects with a `type` ("task-succeeded",
// "worker-heartbeat"…), sent on the topic exchange `celeryev` with the type's
// dashes turned into dots as the routing key. Same fields as Celery 5.2, so
// `celery events` and Flower read ours and we read theirs.
import { randomUUID } from "node:crypto";
import { DecodeError } from "../errors.js";
import type { Message } from "../protocol/message.js";

export const EVENT_EXCHANGE = "celeryev";

/** Fields every event has; the rest depend on the type. */
export interface CeleryEvent {
  type: string;
  hostname: string;
  /** Hours west of UTC, as Python's time.timezone // 3600. */
  utcoffset: number;
  pid: number;
  /** Lamport clock of the sender. */
  clock: number;
  /** Epoch seconds (float). */
  timestamp: number;
  /** Task events: the task id. */
  uuid?: string;
  [field: string]: unknown;
}

/** The group of an event type: `task-succeeded` → `task`. */
export function groupOf(type: string): string {
  return type.split("-", 1)[0]!;
}

/** The routing key Celery uses for an event type: `task-succeeded` → `task.succeeded`. */
export function routingKeyOf(type: string): string {
  return type.replace(/-/g, ".");
}

/** Python's utcoffset(): hours west of UTC (0 on a UTC machine, -1 in Paris in winter). */
export function utcoffset(): number {
  return Math.floor(new Date().getTimezoneOffset() / 60);
}

/** Wraps one event (or a batch, for `<group>.multi`) as a broker message, as kombu would. */
export function encodeEvent(event: CeleryEvent | CeleryEvent[], hostname: string, routingKey: string): Message {
  return {
    body: Buffer.from(JSON.stringify(event)),
    contentType: "application/json",
    contentEncoding: "utf-8",
    headers: { hostname },
    properties: {
      delivery_mode: 1,
      priority: 0,
      body_encoding: "base64",
      delivery_tag: randomUUID(),
      delivery_info: { exchange: EVENT_EXCHANGE, routing_key: routingKey },
    },
  };
}

/** The events in a message: one, or several for a `task.multi` batch. */
export function decodeEvents(msg: Message): CeleryEvent[] {
  if (!/json/.test(msg.contentType)) throw new DecodeError(`event message has content type ${msg.contentType}; only JSON events are read`);
  let body: unknown;
  try {
    body = JSON.parse(msg.body.toString("utf8"));
  } catch (err) {
    throw new DecodeError(`event message is not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(body) ? body : [body];
  return list.filter((e): e is CeleryEvent => !!e && typeof e === "object" && typeof (e as CeleryEvent).type === "string");
}
