// Receives events from the broker's `celeryev` fanout, Celery's EventReceiver:
// subscribes with a topic pattern (`#` all, `task.#`, `worker.heartbeat`),
// unpacks `*.multi` batches, and stamps each event with `local_received`.
import type { Broker } from "../brokers/broker.js";
import { ConfigurationError } from "../errors.js";
import type { Logger } from "../log.js";
import { forwardClock } from "./dispatcher.js";
import { EVENT_EXCHANGE, decodeEvents, type CeleryEvent } from "./event.js";

export type EventHandler = (event: CeleryEvent) => void;

export class EventReceiver {
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly opts: { pattern?: string; log?: Logger } = {},
  ) {}

  /** Starts delivering events to `handler`; events published before this call are not seen. */
  async start(handler: EventHandler): Promise<void> {
    if (this.unsubscribe) throw new ConfigurationError("this event receiver is already started");
    if (!this.broker.subscribeFanout) throw new ConfigurationError(`broker ${this.broker.displayUrl} has no fanout: events are not available`);
    this.unsubscribe = await this.broker.subscribeFanout(EVENT_EXCHANGE, this.opts.pattern ?? "#", (msg) => {
      let events: CeleryEvent[];
      try {
        events = decodeEvents(msg);
      } catch (err) {
        this.opts.log?.warn(`ignored an event message: ${(err as Error).message}`);
        return;
      }
      const now = Date.now() / 1000;
      for (const e of events) {
        if (typeof e.clock === "number") forwardClock(e.clock);
        e.local_received = now;
        try {
          handler(e);
        } catch (err) {
          this.opts.log?.warn(`event handler failed on ${e.type}: ${(err as Error).message}`);
        }
      }
    });
  }

  async stop(): Promise<void> {
    const u = this.unsubscribe;
    this.unsubscribe = null;
    await u?.();
  }
}
