// Celery's remote-control messages ("pidbox"): a request broadcast on the
// `celery.pidbox` fanout exchange, and replies sent to the requester's reply
// queue through the `reply.celery.pidbox` exchange. Same JSON shapes as
// Celery, so `celery inspect ping` and Celeriac workers understand each other.
import { randomUUID } from "node:crypto";
import type { BoundQueue, ExchangeKind } from "../brokers/broker.js";
import type { Message } from "../protocol/message.js";
import { DecodeError } from "../errors.js";

export const PIDBOX_EXCHANGE = "celery.pidbox";
/** As kombu's Mailbox declares it: peers that declare it otherwise are refused by RabbitMQ. */
export const PIDBOX_KIND: ExchangeKind = { type: "fanout", durable: false };
export const REPLY_EXCHANGE = "reply.celery.pidbox";

/**
 * The requester's reply queue, as kombu's Mailbox.get_reply_queue() declares
 * it, with Celery's control_queue_ttl (300 s) and control_queue_expires (10 s).
 */
export function replyQueue(oid: string): BoundQueue {
  return { name: `${oid}.${REPLY_EXCHANGE}`, exchange: REPLY_EXCHANGE, routingKey: oid, messageTtlMs: 300_000, expiresMs: 10_000 };
}

export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  pattern: string | null;
  matcher: string | null;
  ticket: string;
  reply_to: { exchange: string; routing_key: string } | null;
}

let clock = 0;

function jsonMessage(body: unknown, headers: Record<string, unknown>, properties: Record<string, unknown>): Message {
  return {
    body: Buffer.from(JSON.stringify(body)),
    contentType: "application/json",
    contentEncoding: "utf-8",
    headers,
    properties: { delivery_mode: 2, priority: 0, body_encoding: "base64", delivery_tag: randomUUID(), ...properties },
  };
}

export function encodeRequest(req: Omit<ControlRequest, "ticket" | "pattern" | "matcher"> & { ticket?: string }, ttlSeconds: number): Message {
  const body: ControlRequest = { pattern: null, matcher: null, ticket: req.ticket ?? randomUUID(), ...req } as ControlRequest;
  return jsonMessage(
    body,
    { clock: ++clock, expires: Date.now() / 1000 + ttlSeconds },
    {
      delivery_info: { exchange: PIDBOX_EXCHANGE, routing_key: "" },
    },
  );
}

export function decodeRequest(msg: Message): ControlRequest {
  let body: unknown;
  try {
    body = JSON.parse(msg.body.toString("utf8"));
  } catch (err) {
    throw new DecodeError(`control message is not JSON: ${(err as Error).message}`);
  }
  const b = body as Partial<ControlRequest>;
  if (!b || typeof b.method !== "string") throw new DecodeError("control message has no method");
  const expires = msg.headers.expires;
  // kombu sends `expires: 0` for a broadcast without a reply timeout (revoke()): no deadline, not 1970.
  if (typeof expires === "number" && expires > 0 && expires * 1000 < Date.now()) throw new DecodeError(`control message ${b.method} expired`);
  return {
    method: b.method,
    arguments: b.arguments ?? {},
    destination: b.destination ?? null,
    pattern: b.pattern ?? null,
    matcher: b.matcher ?? null,
    ticket: String(b.ticket ?? ""),
    reply_to: b.reply_to ?? null,
  };
}

/** A worker's reply: `{ "<hostname>": <reply> }`, correlated by ticket. */
export function encodeReply(hostname: string, ticket: string, reply: unknown): Message {
  return jsonMessage(
    { [hostname]: reply },
    { ticket, clock: ++clock },
    { correlation_id: ticket, delivery_info: { exchange: REPLY_EXCHANGE, routing_key: "" } },
  );
}

export function decodeReply(msg: Message): Record<string, unknown> {
  return JSON.parse(msg.body.toString("utf8")) as Record<string, unknown>;
}
