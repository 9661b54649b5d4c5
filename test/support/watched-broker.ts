// The real memory broker, with a record of what was asked of it and switches
// that make a primitive fail as if the broker were away. Instrumentation for
// unit tests of the parts above the broker, not a stand-in for it.
import type { Delivery, FetchOptions, PublishOptions, Route } from "../../src/brokers/broker.js";
import { MemoryBroker } from "../../src/brokers/memory.js";
import type { Message } from "../../src/protocol/message.js";

export class WatchedBroker extends MemoryBroker {
  readonly asks: number[] = [];
  readonly acked: string[] = [];
  readonly rejected: { tag: string; requeue: boolean }[] = [];
  readonly published: { route: Route; message: Message; opts?: PublishOptions }[] = [];
  readonly extended: string[][] = [];
  inFlight = 0;
  mostInFlight = 0;
  /** The next this-many fetches reject. */
  failFetches = 0;
  /** While set, publish rejects with this error. */
  failPublish: Error | null = null;

  override async fetch(queues: readonly string[], opts: FetchOptions): Promise<Delivery[]> {
    this.asks.push(opts.max);
    if (this.failFetches > 0) {
      this.failFetches--;
      throw new Error("connection refused");
    }
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    try {
      return await super.fetch(queues, opts);
    } finally {
      this.inFlight--;
    }
  }

  override publish(route: Route, message: Message, opts?: PublishOptions): Promise<void> {
    if (this.failPublish) return Promise.reject(this.failPublish);
    this.published.push({ route, message, opts });
    return super.publish(route, message, opts);
  }

  override async ack(deliveries: readonly Delivery[]): Promise<void> {
    this.acked.push(...deliveries.map((d) => d.tag));
    return super.ack(deliveries);
  }

  override async reject(delivery: Delivery, requeue: boolean): Promise<void> {
    this.rejected.push({ tag: delivery.tag, requeue });
    return super.reject(delivery, requeue);
  }

  override async extendLease(deliveries: readonly Delivery[]): Promise<void> {
    this.extended.push(deliveries.map((d) => d.tag));
    return super.extendLease(deliveries);
  }
}
