// Sends events on the broker's `celeryev` fanout, Celery's EventDispatcher:
// stamps each event with hostname, utcoffset, pid, a Lamport clock and a
// timestamp, and publishes it with the routing key `<group>.<rest>`.
// Sending never blocks or fails the caller: monitoring must not slow or
// break the work it watches.
import type { Broker } from "../brokers/broker.js";
import type { Logger } from "../log.js";
import { EVENT_EXCHANGE, encodeEvent, groupOf, routingKeyOf, utcoffset, type CeleryEvent } from "./event.js";

/** One Lamport clock per process, shared by every dispatcher in it, as Celery's app.clock. */
let lamport = 0;
export function forwardClock(seen?: number): number {
  lamport = Math.max(lamport, seen ?? 0) + 1;
  return lamport;
}

export interface EventDispatcherOptions {
  hostname: string;
  /** Only these groups are sent (e.g. ["worker"]); all when null. */
  groups?: string[] | null;
  log?: Logger;
}

export class EventDispatcher {
  readonly hostname: string;
  /** Groups sent (null: all). Remote control's enable_events/disable_events change it. */
  groups: Set<string> | null;
  private readonly pending = new Set<Promise<void>>();
  private warned = false;

  constructor(private readonly broker: Broker, private readonly opts: EventDispatcherOptions) {
    this.hostname = opts.hostname;
    this.groups = opts.groups ? new Set(opts.groups) : null;
  }

  /** Whether the broker can carry events at all (it needs fanout). */
  get available(): boolean {
    return typeof this.broker.publishFanout === "function";
  }

  enabledFor(type: string): boolean {
    return this.available && (this.groups === null || this.groups.has(groupOf(type)));
  }

  /** Builds the event with Celery's common fields and publishes it; returns the event (or null when not sent). */
  send(type: string, fields: Record<string, unknown> = {}): CeleryEvent | null {
    if (!this.enabledFor(type)) return null;
    const event: CeleryEvent = {
      hostname: this.hostname,
      utcoffset: utcoffset(),
      pid: process.pid,
      clock: forwardClock(),
      ...fields,
      timestamp: typeof fields.timestamp === "number" ? fields.timestamp : Date.now() / 1000,
      type,
    };
    const key = routingKeyOf(type);
    const p = this.broker.publishFanout!(EVENT_EXCHANGE, key, encodeEvent(event, this.hostname, key)).catch((err: Error) => {
      // Log the first failure only: a broker outage would otherwise flood the log.
      if (!this.warned) this.opts.log?.warn(`cannot send event ${type}: ${err.message}`);
      this.warned = true;
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return event;
  }

  /** Waits until every event sent so far reached the broker. */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
