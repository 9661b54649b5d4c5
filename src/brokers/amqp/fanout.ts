// Broadcast on AMQP the way Celery declares it, so Python and Celeriac peers
// share the same exchanges: the caller says how its exchange is declared
// (ExchangeKind); events' "celeryev" is a durable topic exchange (kombu's
// default), any other unnamed one a transient topic exchange.
// Each subscription gets a queue of its own (exclusive, auto-deleted), bound
// with the subscriber's topic pattern; on a fanout exchange the pattern is
// applied here, since RabbitMQ ignores routing keys there.
import { topicMatches, type ExchangeKind } from "../broker.js";

export const EVENT_EXCHANGE = "celeryev";

export interface ExchangeDecl {
  type: ExchangeKind["type"] | "direct";
  durable: boolean;
}

/** The exchange of bound queues (Broker.declareQueue): transient, as kombu's mailbox declares its reply exchange. */
export const DIRECT_TRANSIENT: ExchangeDecl = { type: "direct", durable: false };

/** How a broadcast exchange is declared: as the caller says, else events' as Celery does, any other as a transient topic exchange. */
export function broadcastExchange(name: string, kind?: ExchangeKind): ExchangeDecl {
  if (kind) return kind;
  if (name === EVENT_EXCHANGE) return { type: "topic", durable: true };
  return { type: "topic", durable: false };
}

/** Arguments of a subscription queue: messages not read in time are dropped, an orphan queue goes away. */
export function subscriptionArguments(exchange: string): Record<string, unknown> {
  // Celery: control_queue_ttl 300 s / expires 10 s; event_queue_ttl 5 s / expires 60 s.
  return exchange === EVENT_EXCHANGE ? { "x-message-ttl": 5_000, "x-expires": 60_000 } : { "x-message-ttl": 300_000, "x-expires": 10_000 };
}

/** Whether a delivery with `routingKey` is for a subscriber with `pattern` (needed on fanout exchanges). */
export function wanted(decl: ExchangeDecl, pattern: string, routingKey: string): boolean {
  return decl.type !== "fanout" || pattern === "#" || topicMatches(pattern, routingKey);
}
