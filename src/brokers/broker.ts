// The Broker interface: the few primitives a transport must supply. Routing,
// prefetch, retries, ETA handling and results live once, above it, for all.
import type { Settings } from "../config.js";
import type { Message } from "../protocol/message.js";
import type { FailoverStrategy } from "../failover.js";

/** Where a message goes: a queue, and for brokers with exchanges, how to reach it. */
export interface Route {
  queue: string;
  exchange?: string;
  routingKey?: string;
}

/** How a broadcast exchange is declared where exchanges are declared (AMQP). */
export interface ExchangeKind {
  type: "fanout" | "topic";
  durable: boolean;
}

/** A queue that receives what is published to `exchange` with `routingKey` (see Broker.declareQueue). */
export interface BoundQueue {
  name: string;
  /** A direct exchange, declared transient if missing. */
  exchange: string;
  routingKey: string;
  /** Messages older than this are dropped, on brokers that can (AMQP x-message-ttl). */
  messageTtlMs?: number;
  /** The queue is deleted once unused this long, on brokers that can (AMQP x-expires). */
  expiresMs?: number;
}

export interface PublishOptions {
  /** 0-9 (0-255 on AMQP). On memory/sqlite/AMQP a higher number is served first; on Redis, as kombu does, a lower one. */
  priority?: number;
  /** Epoch milliseconds before which the message must not be delivered (kept broker-side). */
  eta?: number | null;
}

/** A message waiting in the broker for its ETA (Broker.scheduled). */
export interface ScheduledMessage {
  message: Message;
  /** Epoch ms at which it becomes ready. */
  eta: number;
}

/** A message handed to a consumer. `tag` identifies this delivery for ack/reject. */
export interface Delivery {
  tag: string;
  queue: string;
  message: Message;
  /** True when the message was delivered before and not acked (lease expired, worker died). */
  redelivered: boolean;
}

export interface FetchOptions {
  /** How many messages at most. */
  max: number;
  /** How long to wait for the first message when none is ready, in ms. */
  waitMs: number;
  /**
   * false: the messages are removed as they are taken (early ack).
   * true: they are leased for the visibility timeout and must be acked, or they come back.
   */
  lease: boolean;
  /**
   * The most this consumer holds at once, counting what it has already (its
   * prefetch window; default `max`). A push broker sets its prefetch from it.
   */
  window?: number;
}

export interface Broker {
  /** The URL with any password masked: safe to log. */
  readonly displayUrl: string;
  /** Seconds a leased message stays invisible before it is delivered again. */
  readonly visibilityTimeout: number;
  /** Whether higher priority numbers are served first on this broker. */
  readonly higherPriorityFirst: boolean;
  /**
   * Set when a fetch is done in this process (no network round trip to hide,
   * a fixed cost per call): the consumer then asks for all the room there is
   * at once, not a quarter of the window per fetch.
   */
  readonly localFetch?: boolean;
  connect(): Promise<void>;
  publish(route: Route, message: Message, opts?: PublishOptions): Promise<void>;
  /**
   * Takes up to `max` ready messages from the queues, waiting up to `waitMs` for the first.
   * A push broker consumes only the queues the last fetch named and hands back
   * what it buffered for the others; `queues` may be empty (every queue
   * cancelled by remote control), which resolves [].
   */
  fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]>;
  ack(deliveries: readonly Delivery[]): Promise<void>;
  /** Puts a message back (requeue) or drops it. */
  reject(delivery: Delivery, requeue: boolean): Promise<void>;
  /** Renews the lease of deliveries still being worked on, so they are not delivered twice. */
  extendLease(deliveries: readonly Delivery[]): Promise<void>;
  /**
   * Writes now the leases a broker put off to the end of the event-loop turn
   * (Redis, for messages taken by a blocking pop), but for `acked`, whose ack
   * is on its way and which needs none. The worker calls it before it runs a
   * task on its own thread: a synchronous task would hold the thread past that
   * turn, and a message unleased meanwhile is lost if the process dies.
   */
  flushLeases?(acked: Delivery | null): void;
  /** Ready messages in a queue (scheduled and leased ones not counted). */
  size(queue: string): Promise<number>;
  /** Removes every message of a queue; returns how many. */
  purge(queue: string): Promise<number>;
  /**
   * The messages of a queue waiting for their ETA, earliest first (at most
   * `limit`), and how many wait in all. Optional: a broker that cannot list
   * them (AMQP, where they travel through the delay cascade) leaves it out.
   */
  scheduled?(queue: string, limit: number): Promise<{ total: number; messages: ScheduledMessage[] }>;
  /**
   * Makes the waiting message of task `taskId` ready now, as a task due now
   * (its `eta` header cleared, else a worker would put it back until then);
   * false when none waits. With scheduled().
   */
  releaseScheduled?(queue: string, taskId: string): Promise<boolean>;
  /**
   * Fanout (Celery's broadcast exchanges, for control commands and events): every
   * current subscriber of the exchange whose pattern matches the routing key
   * gets the message. `kind` says how a broker that declares exchanges (AMQP)
   * declares this one, so it agrees with peers. Optional: a broker without it
   * has no broadcast commands or events.
   */
  publishFanout?(exchange: string, routingKey: string, message: Message, kind?: ExchangeKind): Promise<void>;
  /** Subscribes to a fanout exchange; `pattern` is a topic pattern (`#` = all). Returns an unsubscribe function. */
  subscribeFanout?(
    exchange: string,
    pattern: string,
    handler: (message: Message, routingKey: string) => void,
    kind?: ExchangeKind,
  ): Promise<() => Promise<void>>;
  /**
   * Declares a queue bound to a direct exchange by a routing key (kombu's queue
   * declaration), for the process that will read it with fetch(). Returns a
   * function that deletes the queue and its binding. Optional, like fanout.
   */
  declareQueue?(queue: BoundQueue): Promise<() => Promise<void>>;
  /**
   * Publishes to a direct exchange: the message reaches every queue declared
   * bound to `routingKey` with declareQueue (by any process); with none bound,
   * it goes nowhere.
   */
  publishDirect?(exchange: string, routingKey: string, message: Message): Promise<void>;
  /**
   * A token bucket shared by every worker on this broker (global rate limits,
   * which Celery lacks). Takes one token from bucket `key` refilling at
   * `perSecond`; returns 0 when granted, else the ms until one is due.
   * Optional: without it, global limits act per worker.
   */
  takeToken?(key: string, perSecond: number): Promise<number>;
  close(): Promise<void>;
}

/** A token bucket step, shared by the brokers that keep buckets: returns [tokens left, ms to wait]. */
export function tokenBucketStep(tokens: number, updatedAt: number, now: number, perSecond: number, capacity = 1): [number, number, boolean] {
  const available = Math.min(capacity, tokens + ((now - updatedAt) / 1000) * perSecond);
  if (available >= 1) return [available - 1, 0, true];
  return [available, Math.ceil(((1 - available) / perSecond) * 1000), false];
}

/** AMQP topic matching: `*` is one word, `#` zero or more, words split on dots. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  if (pattern === "#" || pattern === "") return true;
  const p = pattern.split(".");
  const k = routingKey.split(".");
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === "#") return match(i + 1, j) || (j < k.length && match(i, j + 1));
    if (j === k.length) return false;
    return (p[i] === "*" || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

/** The app's queue and exchange settings, for brokers that declare them (AMQP). */
export type TopologySettings = Pick<
  Settings,
  | "taskDefaultQueue"
  | "taskDefaultExchange"
  | "taskDefaultExchangeType"
  | "taskDefaultRoutingKey"
  | "taskQueueMaxPriority"
  | "taskDefaultQueueType"
  | "taskQueues"
  | "taskCreateMissingQueues"
>;

export interface BrokerOptions {
  /** Seconds; Celery's broker_transport_options.visibility_timeout. */
  visibilityTimeout?: number;
  /** How a failover URL list ("redis://h1;redis://h2") is walked: Celery's broker_failover_strategy. */
  failoverStrategy?: FailoverStrategy;
  /** Queue and exchange settings (the app passes its own); brokers without exchanges ignore them. */
  topology?: Partial<TopologySettings>;
}
