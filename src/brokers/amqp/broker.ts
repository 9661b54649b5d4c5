// amqp:// — RabbitMQ (AMQP 0-9-1), wire-compatible with Python Celery. This
// file is the wiring of the broker's parts behind the Broker interface:
//   - session.ts: the connection and its channels, reconnecting by itself;
//   - declarations.ts: queues and exchanges as Celery declares them
//     (topology.ts), the ETA delay cascade (delay.ts), once per connection;
//   - publisher.ts: publishing with publisher confirms;
//   - consumer.ts: fetch() served from basic.consume buffers, leases, acks;
//   - broadcast.ts: fanout subscriptions and bound (reply) queues;
//   - rate-bucket.ts: global rate limits.
// Publishing goes to the exchange and routing key Celery would use; a message
// with an ETA goes into the delay cascade, never held by a worker.
import type { Message } from "../../protocol/message.js";
import type { BoundQueue, Broker, BrokerOptions, Delivery, ExchangeKind, FetchOptions, PublishOptions, Route } from "../broker.js";
import { Broadcast } from "./broadcast.js";
import { Consumer } from "./consumer.js";
import { Declarations } from "./declarations.js";
import { delayExchange, delayRoutingKey } from "./delay.js";
import { Publisher } from "./publisher.js";
import { RateBuckets } from "./rate-bucket.js";
import { hasReplyCode, NOT_FOUND } from "./reply-code.js";
import { AmqpSession, type Live } from "./session.js";
import { Topology } from "./topology.js";
import { AmqpServers } from "./url.js";

/** ETAs closer than this are published for immediate delivery. */
const ETA_MIN_MS = 2;

export interface AmqpBrokerOptions extends BrokerOptions {
  /** Reconnect attempts after a lost connection (null: forever). */
  maxRetries?: number | null;
  /**
   * Seconds an idle consumer waits, while its queue holds ready messages, before it is taken
   * for stalled and consumes again (two checks this far apart agree); 0 turns the check off. Default 10.
   */
  consumerStallTimeout?: number;
}

export class AmqpBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = true;
  readonly topology: Topology;
  private readonly session: AmqpSession;
  private readonly rates: RateBuckets;
  private readonly declarations: Declarations;
  private readonly publisher: Publisher;
  private readonly consumer: Consumer;
  private readonly broadcast: Broadcast;
  private closed = false;

  constructor(url: string, opts: AmqpBrokerOptions = {}) {
    const servers = new AmqpServers(url, opts.failoverStrategy);
    this.displayUrl = servers.display;
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    this.topology = new Topology(opts.topology);
    this.session = new AmqpSession(servers, {
      maxRetries: opts.maxRetries ?? null,
      setup: (live) => this.onConnected(live),
    });
    const isClosed = () => this.closed;
    this.declarations = new Declarations(this.session, this.topology);
    this.publisher = new Publisher(this.session, isClosed);
    this.consumer = new Consumer(this.session, this.topology, this.declarations, this.visibilityTimeout, opts.consumerStallTimeout ?? 10);
    this.broadcast = new Broadcast(this.session, this.declarations, this.publisher, isClosed);
    this.session.on("lost", () => this.consumer.onLost());
    this.rates = new RateBuckets(this.session);
  }

  /** Every queue this broker declared (tests clean up with it). */
  get declaredQueues(): Set<string> {
    return this.declarations.queues;
  }

  async connect(): Promise<void> {
    await this.session.connect();
  }

  /** After every (re)connect: forget old declarations, consume again what we consumed. */
  private async onConnected(live: Live): Promise<void> {
    this.declarations.reset();
    await this.consumer.onConnected(live);
    await this.broadcast.onConnected(live);
  }

  publish(route: Route, message: Message, opts: PublishOptions = {}): Promise<void> {
    const delay = opts.eta ? opts.eta - Date.now() : 0;
    if (delay >= ETA_MIN_MS) {
      // A per-message TTL would cut the cascade short: the worker enforces `expires` itself.
      const { expiration: _drop, ...properties } = message.properties ?? {};
      const delayed = { ...message, properties };
      return this.publisher.send(() =>
        this.declarations.delay(route.queue).then(() => ({
          exchange: delayExchange(this.declarations.cascade(route.queue)),
          routingKey: delayRoutingKey(opts.eta! - Date.now(), route.queue),
          message: delayed,
          priority: opts.priority,
        })),
      );
    }
    return this.publisher.send(() => {
      const target = this.topology.target(route);
      const out = { exchange: target.exchange, routingKey: target.routingKey, message, priority: opts.priority };
      const declared = this.declarations.queue(route.queue);
      if (target.exchange && target.exchange !== this.topology.queue(route.queue).exchange) {
        return Promise.all([declared, this.declarations.exchange(target.exchange)]).then(() => out);
      }
      return declared.then(() => out);
    });
  }

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    if (this.broadcast.readsBound(queues)) return this.broadcast.pollBound(queues, opts);
    return this.consumer.fetch(queues, opts);
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    this.consumer.ack(deliveries);
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    if (this.consumer.reject(delivery, requeue)) return;
    // Taken without a lease (acked at once): put a copy back.
    const [generation] = delivery.tag.split(":");
    if (requeue && Number(generation) === this.session.currentGeneration) await this.publish({ queue: delivery.queue, exchange: "" }, delivery.message);
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    this.consumer.extendLease(deliveries);
  }

  publishFanout(exchange: string, routingKey: string, message: Message, kind?: ExchangeKind): Promise<void> {
    return this.broadcast.publishFanout(exchange, routingKey, message, kind);
  }

  subscribeFanout(
    exchange: string,
    pattern: string,
    handler: (message: Message, routingKey: string) => void,
    kind?: ExchangeKind,
  ): Promise<() => Promise<void>> {
    return this.broadcast.subscribeFanout(exchange, pattern, handler, kind);
  }

  declareQueue(queue: BoundQueue): Promise<() => Promise<void>> {
    return this.broadcast.declareQueue(queue);
  }

  publishDirect(exchange: string, routingKey: string, message: Message): Promise<void> {
    return this.broadcast.publishDirect(exchange, routingKey, message);
  }

  // ---- queue management -------------------------------------------------------------

  async size(queue: string): Promise<number> {
    return (await this.checkQueue(queue)).messageCount;
  }

  /** How many consumers a queue has (0 when it does not exist). */
  async consumers(queue: string): Promise<number> {
    return (await this.checkQueue(queue)).consumerCount;
  }

  /** A queue's counts; zeros when it does not exist. */
  private checkQueue(queue: string): Promise<{ messageCount: number; consumerCount: number }> {
    return this.session.withChannel(async (ch) => {
      try {
        return await ch.checkQueue(queue);
      } catch (err) {
        if (hasReplyCode(err, NOT_FOUND)) return { messageCount: 0, consumerCount: 0 };
        throw err;
      }
    });
  }

  async purge(queue: string): Promise<number> {
    return this.session.withChannel(async (ch) => {
      try {
        return (await ch.purgeQueue(queue)).messageCount;
      } catch (err) {
        if (hasReplyCode(err, NOT_FOUND)) return 0;
        throw err;
      }
    });
  }

  /** Deletes a queue (kombu's queue.delete()); returns how many messages it held. */
  async deleteQueue(queue: string): Promise<number> {
    this.declarations.forgetQueue(queue);
    return this.session.withChannel(async (ch) => (await ch.deleteQueue(queue)).messageCount);
  }

  /** A token from the bucket `key` shared by every process on this RabbitMQ (rate-bucket.ts). */
  takeToken(key: string, perSecond: number): Promise<number> {
    return this.rates.take(key, perSecond);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rates.close();
    this.consumer.close();
    await this.session.close();
  }
}
