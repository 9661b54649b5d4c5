// The queues an app declares, with the exchange and routing key each is bound
// by: the worker banner's [queues] and `celeriac list bindings` both read
// this (the AMQP topology decides it, so what is printed is what is declared).
import { Topology } from "../brokers/amqp/topology.js";
import type { Settings } from "../config.js";

export interface Binding {
  queue: string;
  exchange: string;
  exchangeType: string;
  routingKey: string;
}

/** The app's known queues: taskQueues, else the default queue (Celery's app.amqp.queues). */
export function knownQueues(s: Settings): string[] {
  return s.taskQueues?.length ? s.taskQueues.map((q) => q.name) : [s.taskDefaultQueue];
}

export function bindingOf(queue: string, s: Settings): Binding {
  const spec = new Topology(s).queue(queue);
  return { queue, exchange: spec.exchange, exchangeType: spec.exchangeType, routingKey: spec.routingKey };
}

/** Rows as Celery's `celery list bindings` prints them: queue, exchange, routing key. */
export function bindingsTable(bindings: Binding[]): string {
  const rows = [["Queue", "Exchange", "Routing Key"], ...bindings.map((b) => [b.queue, `${b.exchange}(${b.exchangeType})`, b.routingKey])];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join("\n");
}
