// Broadcast on AMQP the way Celery declares it (kombu's Mailbox and Celery's
// event dispatcher), so Python and Celeriac peers share the same exchanges:
//   - remote control: fanout exchange "celery.pidbox" (not durable); replies go
//     to the direct exchange "reply.celery.pidbox" (not durable), routing key =
//     the requester's reply key, whose queue is not durable, auto-deleted, with
//     x-expires 10 s and x-message-ttl 300 s (Celery's control_queue_* defaults);
//   - events: topic exchange "celeryev" (durable, kombu's default).
// Each subscription gets a queue of its own (exclusive, auto-deleted), bound
// with the subscriber's topic pattern; on a fanout exchange the pattern is
// applied here, since RabbitMQ ignores routing keys there.
import { topicMatches } from "../broker.js";

export const PIDBOX_EXCHANGE = "celery.pidbox";
export const REPLY_EXCHANGE = "reply.celery.pidbox";
export const EVENT_EXCHANGE = "celeryev";

export interface ExchangeDecl {
  type: "fanout" | "topic" | "direct";
  durable: boolean;
}

/** How a broadcast exchange is declared: Celery's own as Celery does, any other as a transient topic exchange. */
export function broadcastExchange(name: string): ExchangeDecl {
  if (name === PIDBOX_EXCHANGE) return { type: "fanout", durable: false };
  if (name === REPLY_EXCHANGE) return { type: "direct", durable: false };
  if (name === EVENT_EXCHANGE) return { type: "topic", durable: true };
  return { type: "topic", durable: false };
}

/** Arguments of a control reply queue (kombu Mailbox.get_reply_queue with Celery's defaults). */
export const REPLY_QUEUE_ARGUMENTS = { "x-expires": 10_000, "x-message-ttl": 300_000 };

/** Arguments of a subscription queue: messages not read in time are dropped, an orphan queue goes away. */
export function subscriptionArguments(exchange: string): Record<string, unknown> {
  // Celery: control_queue_ttl 300 s / expires 10 s; event_queue_ttl 5 s / expires 60 s.
  return exchange === EVENT_EXCHANGE ? { "x-message-ttl": 5_000, "x-expires": 60_000 } : { "x-message-ttl": 300_000, "x-expires": 10_000 };
}

/** Whether a delivery with `routingKey` is for a subscriber with `pattern` (needed on fanout exchanges). */
export function wanted(decl: ExchangeDecl, pattern: string, routingKey: string): boolean {
  return decl.type !== "fanout" || pattern === "#" || topicMatches(pattern, routingKey);
}

/** The reply routing key a control request names, if any (it must be bound before the request goes out). */
export function replyKeyOf(body: Buffer): string | null {
  try {
    const req = JSON.parse(body.toString("utf8")) as { reply_to?: { exchange?: unknown; routing_key?: unknown } | null };
    const key = req.reply_to?.routing_key;
    return typeof key === "string" && key ? key : null;
  } catch {
    return null;
  }
}
