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
  /** Ready messages in a queue (scheduled and leased ones not counted). */
  size(queue: string): Promise<number>;
  /** Removes every message of a queue; returns how many. */
  purge(queue: string): Promise<number>;
  close(): Promise<void>;
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
