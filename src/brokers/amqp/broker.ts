// amqp:// — RabbitMQ (AMQP 0-9-1), wire-compatible with Python Celery.
//
// Publishing: to the exchange and routing key Celery would use (topology.ts),
// on a confirm channel, so publish() resolves only once RabbitMQ has the
// message. ETA: into the delay cascade (delay.ts), never held by a worker.
//
// Consuming: the pull-style fetch() is served from a basic.consume buffer.
// basic.qos prefetch is set from the first fetch's `window` (the worker's
// whole prefetch window), so RabbitMQ never pushes more than the worker may
// hold. A delivery stays unacked in RabbitMQ until ack/reject:
// that is the lease. If the channel or connection goes, RabbitMQ requeues it.
// Leases also expire here after visibilityTimeout (nack + requeue) unless
// extended, like on every other broker; the worker renews them while it holds
// a message, so this only returns messages that were taken and forgotten.
import { randomUUID } from "node:crypto";
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { ConfigurationError } from "../../errors.js";
import type { Message } from "../../protocol/message.js";
import type { Broker, BrokerOptions, Delivery, FetchOptions, PublishOptions, Route } from "../broker.js";
import { AckTracker } from "./ack-tracker.js";
import { fromAmqp, publishOptions } from "./codec.js";
import { broadcastExchange, replyKeyOf, REPLY_EXCHANGE, REPLY_QUEUE_ARGUMENTS, PIDBOX_EXCHANGE, subscriptionArguments, wanted, type ExchangeDecl } from "./fanout.js";
import { bindDelayTarget, declareDelayCascade, DELAY_EXCHANGE, delayRoutingKey } from "./delay.js";
import { AmqpSession, type Live } from "./session.js";
import { Topology, type QueueSpec } from "./topology.js";
import { parseAmqpUrl } from "./url.js";
import { RateBuckets } from "./rate-bucket.js";

interface Buffered {
  generation: number;
  queue: string;
  msg: ConsumeMessage;
}

interface Lease extends Buffered {
  until: number;
}

interface Subscription {
  exchange: string;
  decl: ExchangeDecl;
  pattern: string;
  handler: (message: Message, routingKey: string) => void;
  queue: string;
  consumerTag: string | null;
}

/** How often a control reply queue is polled (basic.get) while waiting for replies, ms. */
const REPLY_POLL_MS = 5;

/** How long an early-ack fetch waits for the next message of a trickle. */
const GATHER_GAP_MS = 3;

/** ETAs closer than this are published for immediate delivery. */
const ETA_MIN_MS = 2;

export interface AmqpBrokerOptions extends BrokerOptions {
  /** Reconnect attempts after a lost connection (null: forever). */
  maxRetries?: number | null;
}

export class AmqpBroker implements Broker {
  readonly displayUrl: string;
  readonly visibilityTimeout: number;
  readonly higherPriorityFirst = true;
  readonly topology: Topology;
  private readonly session: AmqpSession;
  private readonly rates: RateBuckets;
  /** Declarations done on the current connection, by queue name (a promise, so concurrent publishes share one). */
  private declared = new Map<string, Promise<void>>();
  private delayDeclared: Promise<void> | null = null;
  private readonly delayTargets = new Map<string, Promise<void>>();
  /** Queues we consume, with the consumer tag on the current connection. */
  private readonly consuming = new Map<string, string | null>();
  private consumeSetup: Promise<void> | null = null;
  private prefetch = 0;
  private readonly buffers = new Map<string, ConsumeMessage[]>();
  private bufferGeneration = -1;
  private readonly waiters = new Set<() => void>();
  private readonly leases = new Map<string, Lease>();
  private leaseTimer: NodeJS.Timeout | null = null;
  private rotate = 0;
  /** Outstanding delivery tags of the current consume channel. */
  private tracker = new AckTracker();
  private trackerGeneration = -1;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();
  /**
   * Control reply queues this process asked replies on: read with basic.get, so
   * no consumer is left behind; RabbitMQ removes them 10 s after their last use.
   */
  private readonly replyQueues = new Set<string>();
  /** Every queue this broker declared (tests clean up with it). */
  readonly declaredQueues = new Set<string>();

  constructor(url: string, opts: AmqpBrokerOptions = {}) {
    const parsed = parseAmqpUrl(url);
    this.displayUrl = parsed.display;
    this.visibilityTimeout = opts.visibilityTimeout ?? 3600;
    this.topology = new Topology(opts.topology);
    this.session = new AmqpSession(parsed, {
      maxRetries: opts.maxRetries ?? null,
      setup: (live) => this.onConnected(live),
    });
    this.session.on("lost", () => this.onLost());
    this.rates = new RateBuckets(this.session);
  }

  async connect(): Promise<void> {
    await this.session.connect();
  }

  /** After every (re)connect: forget old declarations, consume again what we consumed. */
  private async onConnected(live: Live): Promise<void> {
    this.declared = new Map();
    this.delayDeclared = null;
    this.delayTargets.clear();
    if (this.prefetch > 0) await live.sub.prefetch(this.prefetch);
    for (const queue of this.consuming.keys()) {
      await this.declareOn(live.sub, this.topology.queue(queue));
      await this.startConsumer(live, queue);
    }
    for (const sub of this.subscriptions) await this.startSubscription(live, sub);
  }

  /** The connection went: buffered messages and leases are void (RabbitMQ requeues them). */
  private onLost(): void {
    for (const list of this.buffers.values()) list.length = 0;
    this.leases.clear();
    for (const q of this.consuming.keys()) this.consuming.set(q, null);
  }

  // ---- declarations ------------------------------------------------------------

  private async declareOn(ch: Channel, spec: QueueSpec): Promise<void> {
    if (spec.exchange) await ch.assertExchange(spec.exchange, spec.exchangeType, { durable: true, autoDelete: false });
    await ch.assertQueue(spec.name, { durable: spec.durable, exclusive: false, autoDelete: false, arguments: spec.arguments });
    if (spec.exchange) await ch.bindQueue(spec.name, spec.exchange, spec.routingKey);
    this.declaredQueues.add(spec.name);
  }

  /** Declares a queue (and its exchange and binding) once per connection. */
  private ensureQueue(name: string): Promise<void> {
    let p = this.declared.get(name);
    if (!p) {
      const spec = this.topology.queue(name);
      p = this.session.adminChannel().then((ch) => this.declareOn(ch, spec));
      this.declared.set(name, p);
      p.catch(() => this.declared.delete(name));
    }
    return p;
  }

  /** Declares an exchange a route names that no queue in the settings declares. */
  private ensureExchange(exchange: string): Promise<void> {
    const key = `exchange:${exchange}`;
    let p = this.declared.get(key);
    if (!p) {
      const type = this.topology.exchangeType(exchange) ?? "direct";
      p = this.session
        .adminChannel()
        .then((ch) => ch.assertExchange(exchange, type, { durable: true, autoDelete: false }))
        .then(
          () => {},
          // It exists with another type: that is the owner's business; publishing still works.
          (err: Error) => {
            if (!/PRECONDITION_FAILED/.test(err.message)) throw err;
          },
        );
      this.declared.set(key, p);
      p.catch(() => this.declared.delete(key));
    }
    return p;
  }

  private ensureDelay(queue: string): Promise<void> {
    if (/[*#]/.test(queue)) {
      return Promise.reject(new ConfigurationError(`queue ${JSON.stringify(queue)}: names with "*" or "#" cannot take messages with an ETA on AMQP`));
    }
    this.delayDeclared ??= this.session.adminChannel().then(declareDelayCascade);
    this.delayDeclared.catch(() => (this.delayDeclared = null));
    let p = this.delayTargets.get(queue);
    if (!p) {
      p = Promise.all([this.delayDeclared, this.ensureQueue(queue)])
        .then(() => this.session.adminChannel())
        .then((ch) => bindDelayTarget(ch, queue));
      this.delayTargets.set(queue, p);
      p.catch(() => this.delayTargets.delete(queue));
    }
    return p;
  }

  // ---- publishing ----------------------------------------------------------------

  async publish(route: Route, message: Message, opts: PublishOptions = {}): Promise<void> {
    const delay = opts.eta ? opts.eta - Date.now() : 0;
    await this.withRetry(async (live) => {
      if (route.exchange === REPLY_EXCHANGE) {
        // A control reply: the requester declared and bound its reply queue; declare nothing of it here.
        await this.ensureBroadcastExchange(REPLY_EXCHANGE);
        await this.confirmPublish(live, REPLY_EXCHANGE, route.routingKey ?? route.queue, message, opts.priority);
      } else if (delay >= ETA_MIN_MS) {
        await this.ensureDelay(route.queue);
        // A per-message TTL would cut the cascade short: the worker enforces `expires` itself.
        const { expiration: _drop, ...properties } = message.properties ?? {};
        await this.confirmPublish(live, DELAY_EXCHANGE, delayRoutingKey(opts.eta! - Date.now(), route.queue), { ...message, properties }, opts.priority);
      } else {
        await this.ensureQueue(route.queue);
        const target = this.topology.target(route);
        if (target.exchange && target.exchange !== this.topology.queue(route.queue).exchange) await this.ensureExchange(target.exchange);
        await this.confirmPublish(live, target.exchange, target.routingKey, message, opts.priority);
      }
    });
  }

  /** Runs a publish; when the connection is lost meanwhile, runs it again on the next one (at least once). */
  private async withRetry(publish: (live: Live) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const live = await this.session.ready();
      try {
        await publish(live);
        return;
      } catch (err) {
        await new Promise((r) => setImmediate(r));
        if (this.closed || attempt >= 20 || (this.session.isOpen && this.session.currentGeneration === live.generation)) throw err;
      }
    }
  }

  private confirmPublish(live: Live, exchange: string, routingKey: string, message: Message, priority: number | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      live.pub.publish(exchange, routingKey, message.body, publishOptions(message, priority), (err) =>
        err ? reject(err instanceof Error ? err : new Error(`RabbitMQ did not accept the message (${String(err)})`)) : resolve(),
      );
    });
  }

  // ---- consuming -----------------------------------------------------------------

  private async startConsumer(live: Live, queue: string): Promise<void> {
    const { consumerTag } = await live.sub.consume(queue, (msg) => this.onMessage(live.generation, queue, msg), { noAck: false });
    this.consuming.set(queue, consumerTag);
  }

  private onMessage(generation: number, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The queue was deleted: consume again (re-declaring it) on the next fetch.
      this.consuming.delete(queue);
      return;
    }
    if (generation !== this.session.currentGeneration) return;
    if (this.trackerGeneration !== generation) {
      this.tracker = new AckTracker();
      this.trackerGeneration = generation;
    }
    this.tracker.delivered(msg.fields.deliveryTag);
    if (!this.consuming.has(queue)) {
      // In flight when we stopped consuming this queue: straight back.
      this.sendNack(generation, msg, true);
      return;
    }
    if (this.bufferGeneration !== generation) {
      for (const list of this.buffers.values()) list.length = 0;
      this.bufferGeneration = generation;
    }
    let list = this.buffers.get(queue);
    if (!list) this.buffers.set(queue, (list = []));
    list.push(msg);
    for (const wake of this.waiters) wake();
  }

  /**
   * Stops consuming a queue a fetch no longer asks for (the worker's
   * cancel_consumer): messages buffered for it go back to RabbitMQ at once.
   */
  private stopConsuming(queue: string): void {
    const tag = this.consuming.get(queue);
    this.consuming.delete(queue);
    const buffered = this.buffers.get(queue) ?? [];
    this.buffers.delete(queue);
    const generation = this.session.currentGeneration;
    void this.session.ready().then(async (live) => {
      if (live.generation !== generation) return;
      if (tag) await live.sub.cancel(tag).catch(() => {});
      for (const msg of buffered) this.sendNack(generation, msg, true);
    }, () => {});
  }

  /** Starts consumers for queues not consumed yet (prefetch set before the first one). */
  private async ensureConsuming(queues: readonly string[], max: number): Promise<void> {
    for (const q of this.consuming.keys()) if (!queues.includes(q)) this.stopConsuming(q);
    const missing = queues.filter((q) => !this.consuming.has(q));
    if (!missing.length) return;
    const setup = (async () => {
      await this.consumeSetup;
      const live = await this.session.ready();
      if (this.prefetch === 0) {
        this.prefetch = Math.max(1, max);
        await live.sub.prefetch(this.prefetch);
      }
      for (const q of missing) {
        if (this.consuming.has(q)) continue;
        await this.ensureQueue(q);
        this.consuming.set(q, null);
        try {
          await this.startConsumer(live, q);
        } catch (err) {
          this.consuming.delete(q);
          throw err;
        }
      }
    })();
    this.consumeSetup = setup.catch(() => {});
    await setup;
  }

  private take(queues: readonly string[], opts: FetchOptions): Delivery[] {
    const out: Delivery[] = [];
    const generation = this.session.currentGeneration;
    if (this.bufferGeneration !== generation) return out;
    const n = queues.length;
    const start = this.rotate++ % Math.max(1, n);
    for (let i = 0; i < n && out.length < opts.max; i++) {
      const queue = queues[(start + i) % n]!;
      const list = this.buffers.get(queue);
      if (!list?.length) continue;
      const got = list.splice(0, opts.max - out.length);
      for (const msg of got) {
        const tag = `${generation}:${msg.fields.deliveryTag}`;
        if (opts.lease) this.leases.set(tag, { generation, queue, msg, until: Date.now() + this.visibilityTimeout * 1000 });
        out.push({ tag, queue, message: fromAmqp(msg), redelivered: msg.fields.redelivered });
      }
      if (!opts.lease) this.sendAcks(generation, got.map((m) => m.fields.deliveryTag));
    }
    if (opts.lease && out.length) this.armLeaseTimer();
    return out;
  }

  async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    const deadline = Date.now() + opts.waitMs;
    if (queues.length && queues.every((q) => this.replyQueues.has(q))) return this.pollReplies(queues, opts, deadline);
    try {
      await this.ensureConsuming(queues, opts.window ?? opts.max);
    } catch (err) {
      // Not connected right now: wait (the session reconnects by itself) rather than spin.
      if (!this.session.isOpen && !this.closed) {
        await Promise.race([this.session.ready().catch(() => {}), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
        return [];
      }
      throw err;
    }
    const got = this.take(queues, opts);
    if (got.length || opts.waitMs <= 0) return got;
    return new Promise((resolve) => {
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (gather) clearTimeout(gather);
        this.waiters.delete(wake);
        resolve(this.take(queues, opts));
      };
      // Deliveries arrive in bursts, parsed in one go: take them together once
      // the parse is over (a microtask later). Early-ack takes (lease false) free prefetch room as they go, so
      // RabbitMQ sends the rest in a trickle: gather until a short quiet gap, for
      // a full batch. Leased takes (the worker's) return at once, for latency.
      let gather: NodeJS.Timeout | null = null;
      const wake = () => {
        const ready = queues.reduce((n, q) => n + (this.buffers.get(q)?.length ?? 0), 0);
        if (!ready) return;
        if (opts.lease || ready >= opts.max) return void queueMicrotask(finish);
        if (gather) clearTimeout(gather);
        gather = setTimeout(finish, GATHER_GAP_MS);
      };
      const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
      this.waiters.add(wake);
    });
  }

  /** Acks delivery tags of one channel generation, in as few frames as possible. */
  private sendAcks(generation: number, tags: number[]): void {
    if (!tags.length || generation !== this.trackerGeneration) return;
    const { upTo, singles } = this.tracker.ack(tags);
    void this.session.ready().then((live) => {
      if (live.generation !== generation) return;
      const ack = (deliveryTag: number, multiple: boolean) => live.sub.ack({ fields: { deliveryTag } } as ConsumeMessage, multiple);
      if (upTo !== null) ack(upTo, true);
      for (const t of singles) ack(t, false);
    }, () => {});
  }

  private sendNack(generation: number, msg: ConsumeMessage, requeue: boolean): void {
    if (generation !== this.trackerGeneration) return;
    this.tracker.settle(msg.fields.deliveryTag);
    void this.session.ready().then((live) => {
      if (live.generation === generation) live.sub.nack(msg, false, requeue);
    }, () => {});
  }

  async ack(deliveries: readonly Delivery[]): Promise<void> {
    const tags: number[] = [];
    let generation = -1;
    for (const d of deliveries) {
      const lease = this.leases.get(d.tag);
      if (!lease) continue; // acked already, or its channel is gone (RabbitMQ requeued it)
      this.leases.delete(d.tag);
      if (lease.generation !== generation && tags.length) this.sendAcks(generation, tags.splice(0));
      generation = lease.generation;
      tags.push(lease.msg.fields.deliveryTag);
    }
    this.sendAcks(generation, tags);
  }

  async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    const lease = this.leases.get(delivery.tag);
    if (lease) {
      this.leases.delete(delivery.tag);
      this.sendNack(lease.generation, lease.msg, requeue);
      return;
    }
    // Taken without a lease (acked at once): put a copy back.
    const [generation] = delivery.tag.split(":");
    if (requeue && Number(generation) === this.session.currentGeneration) await this.publish({ queue: delivery.queue, exchange: "" }, delivery.message);
  }

  async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    const until = Date.now() + this.visibilityTimeout * 1000;
    for (const d of deliveries) {
      const lease = this.leases.get(d.tag);
      if (lease) lease.until = until;
    }
  }

  /** Sweeps expired leases back to their queue; runs only while leases exist. */
  private armLeaseTimer(): void {
    if (this.leaseTimer) return;
    const every = Math.min(5_000, Math.max(100, (this.visibilityTimeout * 1000) / 4));
    this.leaseTimer = setInterval(() => {
      const now = Date.now();
      const generation = this.session.currentGeneration;
      for (const [tag, lease] of this.leases) {
        if (lease.until > now) continue;
        this.leases.delete(tag);
        if (lease.generation === generation) this.sendNack(generation, lease.msg, true);
      }
      if (!this.leases.size && this.leaseTimer) {
        clearInterval(this.leaseTimer);
        this.leaseTimer = null;
      }
    }, every);
    this.leaseTimer.unref();
  }

  // ---- broadcast (remote control, events) -------------------------------------------

  /** Declares an exchange on a channel of its own: declared differently by a peer (PRECONDITION_FAILED) is fine. */
  private static async declareExchange(conn: ChannelModel, name: string, decl: ExchangeDecl): Promise<void> {
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    try {
      await ch.assertExchange(name, decl.type, { durable: decl.durable, autoDelete: false });
    } catch (err) {
      if (!/PRECONDITION_FAILED/.test((err as Error).message)) throw err;
      return;
    }
    await ch.close().catch(() => {});
  }

  private ensureBroadcastExchange(name: string): Promise<void> {
    const key = `broadcast:${name}`;
    let p = this.declared.get(key);
    if (!p) {
      p = this.session.ready().then((live) => AmqpBroker.declareExchange(live.conn, name, broadcastExchange(name)));
      this.declared.set(key, p);
      p.catch(() => this.declared.delete(key));
    }
    return p;
  }

  async publishFanout(exchange: string, routingKey: string, message: Message): Promise<void> {
    await this.ensureBroadcastExchange(exchange);
    // A control request names its reply key: bind the reply queue before the request goes out.
    const replyKey = exchange === PIDBOX_EXCHANGE ? replyKeyOf(message.body) : null;
    if (replyKey && !this.replyQueues.has(replyKey)) {
      await this.ensureBroadcastExchange(REPLY_EXCHANGE);
      const ch = await this.session.adminChannel();
      await ch.assertQueue(replyKey, { durable: false, autoDelete: true, exclusive: false, arguments: REPLY_QUEUE_ARGUMENTS });
      await ch.bindQueue(replyKey, REPLY_EXCHANGE, replyKey);
      this.replyQueues.add(replyKey);
    }
    await this.withRetry((live) => this.confirmPublish(live, exchange, routingKey, message, undefined));
  }

  private async startSubscription(live: Live, sub: Subscription): Promise<void> {
    await AmqpBroker.declareExchange(live.conn, sub.exchange, sub.decl);
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

  async subscribeFanout(exchange: string, pattern: string, handler: (message: Message, routingKey: string) => void): Promise<() => Promise<void>> {
    const sub: Subscription = { exchange, decl: broadcastExchange(exchange), pattern, handler, queue: `celeriac.${exchange}.${randomUUID()}`, consumerTag: null };
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

  /** Control replies: basic.get until something arrives or the wait is over. */
  private async pollReplies(queues: readonly string[], opts: FetchOptions, deadline: number): Promise<Delivery[]> {
    for (;;) {
      const out: Delivery[] = [];
      const ch = await this.session.adminChannel();
      for (const queue of queues) {
        while (out.length < opts.max) {
          const msg = await ch.get(queue, { noAck: true }).catch(() => false as const);
          if (!msg) break;
          out.push({ tag: `reply:${randomUUID()}`, queue, message: fromAmqp(msg), redelivered: msg.fields.redelivered });
        }
      }
      if (out.length || this.closed || Date.now() >= deadline) return out;
      await new Promise((r) => setTimeout(r, Math.min(REPLY_POLL_MS, Math.max(0, deadline - Date.now()))));
    }
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
        if (/NOT_FOUND/.test((err as Error).message)) return { messageCount: 0, consumerCount: 0 };
        throw err;
      }
    });
  }

  async purge(queue: string): Promise<number> {
    return this.session.withChannel(async (ch) => {
      try {
        return (await ch.purgeQueue(queue)).messageCount;
      } catch (err) {
        if (/NOT_FOUND/.test((err as Error).message)) return 0;
        throw err;
      }
    });
  }

  /** Deletes a queue (kombu's queue.delete()); returns how many messages it held. */
  async deleteQueue(queue: string): Promise<number> {
    this.declared.delete(queue);
    this.declaredQueues.delete(queue);
    return this.session.withChannel(async (ch) => (await ch.deleteQueue(queue)).messageCount);
  }

  // ---- global rate limits -------------------------------------------------------------

  /** A token from the bucket `key` shared by every process on this RabbitMQ (rate-bucket.ts). */
  takeToken(key: string, perSecond: number): Promise<number> {
    return this.rates.take(key, perSecond);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rates.close();
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = null;
    for (const wake of this.waiters) wake();
    await this.session.close();
  }
}
