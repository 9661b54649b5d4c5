// Broadcast and bound queues on RabbitMQ: fanout/topic subscriptions (each
// its own exclusive, auto-deleted queue, consumed with no-ack, re-subscribed
// after a reconnect), and queues bound to a direct exchange (Broker.declareQueue,
// kombu's Mailbox.get_reply_queue), read with basic.get so no consumer is left
// behind on these short-lived queues (x-expires removes orphans).
import { randomUUID } from "node:crypto";
import type { Message } from "../../protocol/message.js";
import type { BoundQueue, Delivery, ExchangeKind, FetchOptions } from "../broker.js";
import { fromAmqp } from "./codec.js";
import { declareExchange, type Declarations } from "./declarations.js";
import { broadcastExchange, DIRECT_TRANSIENT, subscriptionArguments, wanted, type ExchangeDecl } from "./fanout.js";
import type { Publisher } from "./publisher.js";
import type { AmqpSession, Live } from "./session.js";

interface Subscription {
  exchange: string;
  decl: ExchangeDecl;
  pattern: string;
  handler: (message: Message, routingKey: string) => void;
  queue: string;
  consumerTag: string | null;
}

/** How often a bound queue is polled (basic.get) while waiting for messages, ms. */
const BOUND_POLL_MS = 5;

export class Broadcast {
  private readonly subscriptions = new Set<Subscription>();
  /** Queues this process declared with declareQueue. */
  private readonly boundQueues = new Set<string>();

  constructor(
    private readonly session: AmqpSession,
    private readonly declarations: Declarations,
    private readonly publisher: Publisher,
    private readonly isClosed: () => boolean,
  ) {}

  /** After a (re)connect: subscribe again. */
  async onConnected(live: Live): Promise<void> {
    for (const sub of this.subscriptions) await this.startSubscription(live, sub);
  }

  /** Whether a fetch of these queues reads bound queues (declareQueue's). */
  readsBound(queues: readonly string[]): boolean {
    return queues.length > 0 && queues.every((q) => this.boundQueues.has(q));
  }

  async publishFanout(exchange: string, routingKey: string, message: Message, kind?: ExchangeKind): Promise<void> {
    const decl = broadcastExchange(exchange, kind);
    await this.publisher.send(() => this.declarations.broadcastExchange(exchange, decl).then(() => ({ exchange, routingKey, message })));
  }

  async declareQueue(queue: BoundQueue): Promise<() => Promise<void>> {
    await this.declarations.broadcastExchange(queue.exchange, DIRECT_TRANSIENT);
    const args: Record<string, number> = {};
    if (queue.messageTtlMs !== undefined) args["x-message-ttl"] = queue.messageTtlMs;
    if (queue.expiresMs !== undefined) args["x-expires"] = queue.expiresMs;
    const ch = await this.session.adminChannel();
    await ch.assertQueue(queue.name, { durable: false, autoDelete: true, exclusive: false, arguments: args });
    await ch.bindQueue(queue.name, queue.exchange, queue.routingKey);
    this.boundQueues.add(queue.name);
    return async () => {
      this.boundQueues.delete(queue.name);
      if (!this.session.isOpen) return;
      await this.session.withChannel((c) => c.deleteQueue(queue.name)).catch(() => {});
    };
  }

  /** Unroutable (no queue bound to the key): RabbitMQ drops it, as the interface says. */
  async publishDirect(exchange: string, routingKey: string, message: Message): Promise<void> {
    await this.publisher.send(() => this.declarations.broadcastExchange(exchange, DIRECT_TRANSIENT).then(() => ({ exchange, routingKey, message })));
  }

  private async startSubscription(live: Live, sub: Subscription): Promise<void> {
    await declareExchange(live.conn, sub.exchange, sub.decl);
    await live.sub.assertQueue(sub.queue, { durable: false, autoDelete: true, exclusive: true, arguments: subscriptionArguments(sub.exchange) });
    await live.sub.bindQueue(sub.queue, sub.exchange, sub.decl.type === "fanout" ? "" : sub.pattern);
    const { consumerTag } = await live.sub.consume(
      sub.queue,
      (msg) => {
        if (!msg || !wanted(sub.decl, sub.pattern, msg.fields.routingKey)) return;
        try {
          sub.handler(fromAmqp(msg), msg.fields.routingKey);
        } catch {
          // A bad broadcast message must not stop the subscription.
        }
      },
      { noAck: true },
    );
    sub.consumerTag = consumerTag;
  }

  async subscribeFanout(
    exchange: string,
    pattern: string,
    handler: (message: Message, routingKey: string) => void,
    kind?: ExchangeKind,
  ): Promise<() => Promise<void>> {
    const sub: Subscription = {
      exchange,
      decl: broadcastExchange(exchange, kind),
      pattern,
      handler,
      queue: `celeriac.${exchange}.${randomUUID()}`,
      consumerTag: null,
    };
    await this.startSubscription(await this.session.ready(), sub);
    this.subscriptions.add(sub);
    return async () => {
      this.subscriptions.delete(sub);
      if (!this.session.isOpen) return;
      const live = await this.session.ready();
      if (sub.consumerTag) await live.sub.cancel(sub.consumerTag).catch(() => {});
      await live.sub.deleteQueue(sub.queue).catch(() => {});
    };
  }

  /** Bound queues: basic.get until something arrives or the wait is over. */
  async pollBound(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    const deadline = Date.now() + opts.waitMs;
    for (;;) {
      const out: Delivery[] = [];
      const ch = await this.session.adminChannel();
      for (const queue of queues) {
        while (out.length < opts.max) {
          const msg = await ch.get(queue, { noAck: true }).catch(() => false as const);
          if (!msg) break;
          out.push({ tag: `bound:${randomUUID()}`, queue, message: fromAmqp(msg), redelivered: msg.fields.redelivered });
        }
      }
      if (out.length || this.isClosed() || Date.now() >= deadline) return out;
      await new Promise((r) => setTimeout(r, Math.min(BOUND_POLL_MS, Math.max(0, deadline - Date.now()))));
    }
  }
}
