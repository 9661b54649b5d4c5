// The Broker interface: the few primitives a transport must supply. Routing,
// prefetch, retries, ETA handling and results live once, above it, for all.
import type { Settings } from "../config.js";
import type { Message } from "../protocol/message.js";

/** Where a message goes: a queue, and for brokers with exchanges, how to reach it. */
export interface Route {
  queue: string;
  exchange?: string;
  routingKey?: string;
}

export interface PublishOptions {
  /** 0-9 (0-255 on AMQP). On memory/sqlite/AMQP a higher number is served first; on Redis, as kombu does, a lower one. */
  priority?: number;
  /** Epoch milliseconds before which the message must not be delivered (kept broker-side). */
  eta?: number | null;
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
  connect(): Promise<void>;
  publish(route: Route, message: Message, opts?: PublishOptions): Promise<void>;
  /** Takes up to `max` ready messages from the queues, waiting up to `waitMs` for the first. */
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
   * Fanout (Celery's broadcast exchanges: `celery.pidbox` for remote control,
   * `celeryev` for events): every current subscriber of the exchange whose
   * pattern matches the routing key gets the message. Optional: a broker
   * without it has no remote control or events.
   */
  publishFanout?(exchange: string, routingKey: string, message: Message): Promise<void>;
  /** Subscribes to a fanout exchange; `pattern` is a topic pattern (`#` = all). Returns an unsubscribe function. */
  subscribeFanout?(exchange: string, pattern: string, handler: (message: Message, routingKey: string) => void): Promise<() => Promise<void>>;
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
  | "taskQueues"
  | "taskCreateMissingQueues"
>;

export interface BrokerOptions {
  /** Seconds; Celery's broker_transport_options.visibility_timeout. */
  visibilityTimeout?: number;
  /** Queue and exchange settings (the app passes its own); brokers without exchanges ignore them. */
  topology?: Partial<TopologySettings>;
}
