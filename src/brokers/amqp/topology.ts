// Celery's queues and exchanges on AMQP, declared with exactly the arguments
// Python Celery 5.2 uses (celery/app/amqp.py Queues, kombu Queue/Exchange), so
// a Python worker and a Celeriac worker can declare and consume the same queue
// without RabbitMQ answering PRECONDITION_FAILED:
//   - queues: durable, not exclusive, not auto-delete, no arguments except
//     x-max-priority when taskQueueMaxPriority / taskQueues[].maxPriority is set
//     (and whatever queueArguments a taskQueues entry gives, e.g. x-queue-type);
//   - exchanges: durable, not auto-delete; the default queue's is taskDefaultExchange
//     (direct "celery"); a queue nobody declared gets a direct exchange of its own name;
//   - with taskDefaultQueueType "quorum" (Celery 5.5's task_default_queue_type),
//     every task queue without an x-queue-type of its own is declared
//     x-queue-type=quorum: replicated over the cluster's nodes. Quorum queues
//     have no priorities, so a max priority with them is refused here.
import { ConfigurationError } from "../../errors.js";
import type { Route, TopologySettings } from "../broker.js";

export type ExchangeType = "direct" | "topic" | "fanout";

export interface QueueSpec {
  name: string;
  durable: boolean;
  arguments: Record<string, unknown>;
  exchange: string;
  exchangeType: ExchangeType;
  /** The binding key of the queue to its exchange. */
  routingKey: string;
  /** A quorum queue (its ETA messages take the quorum delay cascade). */
  quorum: boolean;
}

export interface PublishTarget {
  exchange: string;
  routingKey: string;
}

const DEFAULTS: TopologySettings = {
  taskDefaultQueue: "celery",
  taskDefaultExchange: "celery",
  taskDefaultExchangeType: "direct",
  taskDefaultRoutingKey: "celery",
  taskQueueMaxPriority: null,
  taskDefaultQueueType: "classic",
  taskQueues: null,
  taskCreateMissingQueues: true,
};

export class Topology {
  readonly settings: TopologySettings;

  constructor(settings: Partial<TopologySettings> = {}) {
    this.settings = { ...DEFAULTS };
    for (const [k, v] of Object.entries(settings)) if (v !== undefined) (this.settings as Record<string, unknown>)[k] = v;
    const type = this.settings.taskDefaultQueueType;
    if (type !== "classic" && type !== "quorum") throw new ConfigurationError(`taskDefaultQueueType is "classic" or "quorum", not ${JSON.stringify(type)}`);
  }

  /** A queue's arguments with the default queue type, and its max priority unless it is a quorum queue. */
  private queueArguments(name: string, args: Record<string, unknown>, maxPriority: number | null | undefined): Record<string, unknown> {
    const out = { ...args };
    if (!("x-queue-type" in out) && this.settings.taskDefaultQueueType === "quorum") out["x-queue-type"] = "quorum";
    if (out["x-queue-type"] !== "quorum") return this.withMaxPriority(out, maxPriority);
    if ("x-max-priority" in out || (maxPriority ?? this.settings.taskQueueMaxPriority ?? null) !== null) {
      throw new ConfigurationError(`queue ${JSON.stringify(name)} is a quorum queue, which has no priorities: drop its max priority`);
    }
    return out;
  }

  private withMaxPriority(args: Record<string, unknown>, maxPriority: number | null | undefined): Record<string, unknown> {
    const out = { ...args };
    const p = maxPriority ?? this.settings.taskQueueMaxPriority;
    if (!("x-max-priority" in out) && p !== null && p !== undefined) out["x-max-priority"] = p;
    return out;
  }

  /** How a queue is declared and bound. */
  queue(name: string): QueueSpec {
    const spec = this.declaration(name);
    return { ...spec, quorum: spec.arguments["x-queue-type"] === "quorum" };
  }

  private declaration(name: string): Omit<QueueSpec, "quorum"> {
    const s = this.settings;
    const declared = s.taskQueues?.find((q) => q.name === name);
    if (declared) {
      const exchange = declared.exchange || s.taskDefaultExchange;
      return {
        name,
        durable: true,
        arguments: this.queueArguments(name, declared.queueArguments ?? {}, declared.maxPriority),
        exchange,
        exchangeType: declared.exchangeType ?? (declared.exchange ? "direct" : s.taskDefaultExchangeType),
        routingKey: declared.routingKey ?? name,
      };
    }
    if (name === s.taskDefaultQueue) {
      return {
        name,
        durable: true,
        arguments: this.queueArguments(name, {}, s.taskQueueMaxPriority),
        exchange: s.taskDefaultExchange,
        exchangeType: s.taskDefaultExchangeType,
        routingKey: s.taskDefaultRoutingKey,
      };
    }
    if (!s.taskCreateMissingQueues) {
      throw new ConfigurationError(`queue ${JSON.stringify(name)} is not in taskQueues and taskCreateMissingQueues is off`);
    }
    // Celery's Queues.new_missing: Queue(name, Exchange(name), name).
    return { name, durable: true, arguments: this.queueArguments(name, {}, s.taskQueueMaxPriority), exchange: name, exchangeType: "direct", routingKey: name };
  }

  /** The exchange type of an exchange named in the settings, if any. */
  exchangeType(exchange: string): ExchangeType | null {
    const s = this.settings;
    const q = s.taskQueues?.find((d) => (d.exchange || s.taskDefaultExchange) === exchange);
    if (q) return q.exchangeType ?? (q.exchange ? "direct" : s.taskDefaultExchangeType);
    if (exchange === s.taskDefaultExchange) return s.taskDefaultExchangeType;
    return null;
  }

  /**
   * Where a message for `route` is published, as Celery's send_task_message
   * decides: a direct route without an explicit exchange goes to the default
   * (nameless) exchange with the queue name as routing key; topic and fanout
   * routes go to the queue's exchange with the route's routing key.
   */
  target(route: Route): PublishTarget {
    // The nameless exchange, or a bare queue (the worker putting a message
    // back for a retry or an ETA): straight to that queue, no other binding.
    if (route.exchange === "" || (route.exchange === undefined && route.routingKey === undefined)) return { exchange: "", routingKey: route.queue };
    const spec = this.queue(route.queue);
    if ((!route.exchange || !route.routingKey) && spec.exchangeType === "direct") return { exchange: "", routingKey: route.queue };
    return {
      exchange: route.exchange ?? (spec.exchange || this.settings.taskDefaultExchange),
      routingKey: route.routingKey || spec.routingKey || this.settings.taskDefaultRoutingKey,
    };
  }
}
