// The producer's `task-sent` event (Celery's task_send_sent_event): a monitor
// learns of a task when it is sent, before any worker has it.
import { hostname } from "node:os";
import type { Broker, Route } from "../brokers/broker.js";
import type { Logger } from "../log.js";
import type { Message } from "../protocol/message.js";
import { EventDispatcher } from "./dispatcher.js";

const dispatchers = new WeakMap<Broker, EventDispatcher>();

/** Sends task-sent for a message just published. The producer is named as Celery names it: gen<pid>@<host>. */
export function announceSent(broker: Broker, message: Message, route: Route, log?: Logger): void {
  let d = dispatchers.get(broker);
  if (!d) {
    d = new EventDispatcher(broker, { hostname: `gen${process.pid}@${hostname()}`, log });
    dispatchers.set(broker, d);
  }
  const h = message.headers;
  d.send("task-sent", {
    uuid: h.id,
    root_id: h.root_id ?? null,
    parent_id: h.parent_id ?? null,
    name: h.task,
    args: h.argsrepr ?? null,
    kwargs: h.kwargsrepr ?? null,
    retries: h.retries ?? 0,
    eta: h.eta ?? null,
    expires: h.expires ?? null,
    queue: route.queue,
    exchange: route.exchange ?? "",
    routing_key: route.routingKey ?? route.queue,
  });
}
