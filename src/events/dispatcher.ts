// Sends events on the broker's `celeryev` fanout, Celery's EventDispatcher:
// stamps each event with hostname, utcoffset, pid, a Lamport clock and a
// timestamp, and publishes it with the routing key `<group>.<rest>`.
// Sending never blocks or fails the caller: monitoring must not slow or
// break the work it watches. Like Celery's worker, it may buffer a group's
// events (tasks) for a few milliseconds and send them as one `<group>.multi`
// list: under load that is one broker write for many events; a lone event
// still goes out alone, with its own routing key.
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
  /** Groups whose events are buffered and sent in batches (Celery's buffer_group). */
  bufferGroups?: string[];
  /** Most events in a batch (Celery's buffer_limit, 24). */
  bufferLimit?: number;
  /** Longest an event waits in the buffer, ms. */
  bufferMs?: number;
}

export class EventDispatcher {
  readonly hostname: string;
  /** Groups sent (null: all). Remote control's enable_events/disable_events change it. */
  groups: Set<string> | null;
  private readonly pending = new Set<Promise<void>>();
  private warned = false;
  private readonly buffers = new Map<string, CeleryEvent[]>();
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly opts: EventDispatcherOptions,
  ) {
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
    const group = groupOf(type);
    if (this.opts.bufferGroups?.includes(group)) {
      let buf = this.buffers.get(group);
      if (!buf) this.buffers.set(group, (buf = []));
      buf.push(event);
      if (buf.length >= (this.opts.bufferLimit ?? 24)) this.flushBuffers();
      else if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flushBuffers(), this.opts.bufferMs ?? 10);
      return event;
    }
    this.publish(event, routingKeyOf(type));
    return event;
  }

  private publish(payload: CeleryEvent | CeleryEvent[], key: string): void {
    const p = this.broker.publishFanout!(EVENT_EXCHANGE, key, encodeEvent(payload, this.hostname, key)).catch((err: Error) => {
      // Log the first failure only: a broker outage would otherwise flood the log.
      if (!this.warned) this.opts.log?.warn(`cannot send events (${key}): ${err.message}`);
      this.warned = true;
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private flushBuffers(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    for (const [group, buf] of this.buffers) {
      if (!buf.length) continue;
      const batch = buf.splice(0);
      if (batch.length === 1) this.publish(batch[0]!, routingKeyOf(batch[0]!.type));
      else this.publish(batch, `${group}.multi`);
    }
  }

  /** Sends what is buffered and waits until every event sent so far reached the broker. */
  async flush(): Promise<void> {
    this.flushBuffers();
    await Promise.all([...this.pending]);
  }
}
