// The leases of brokers that keep them in process (memory, and AMQP, whose
// RabbitMQ leases never expire while the channel lives): what a consumer took
// and has not acked, each until a deadline. One timer, armed for the earliest
// deadline, hands expired ones back so they are delivered again.

interface Lease<T> {
  value: T;
  until: number;
}

export class LeaseTable<T> {
  private readonly leases = new Map<string, Lease<T>>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  /** `onExpired` gets each lease whose deadline passed, once, after it left the table. */
  constructor(private readonly onExpired: (value: T) => void) {}

  get size(): number {
    return this.leases.size;
  }

  add(tag: string, value: T, ttlMs: number): void {
    const until = Date.now() + ttlMs;
    this.leases.set(tag, { value, until });
    if (until < this.timerAt) this.arm(until);
  }

  /** Removes a lease (ack, reject) and returns what it held; undefined when it expired or was never there. */
  take(tag: string): T | undefined {
    const lease = this.leases.get(tag);
    if (!lease) return undefined;
    this.leases.delete(tag);
    if (!this.leases.size) this.disarm();
    return lease.value;
  }

  /** Moves the deadline of the tags still leased to `ttlMs` from now. */
  extend(tags: Iterable<string>, ttlMs: number): void {
    const until = Date.now() + ttlMs;
    // The timer may now fire early: it finds nothing due and arms again.
    for (const tag of tags) {
      const lease = this.leases.get(tag);
      if (lease) lease.until = until;
    }
  }

  /** Forgets every lease without handing it back (their channel is gone, say). */
  clear(): void {
    this.leases.clear();
    this.disarm();
  }

  private expire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    const due: T[] = [];
    for (const [tag, lease] of this.leases) {
      if (lease.until <= now) {
        this.leases.delete(tag);
        due.push(lease.value);
      } else {
        next = Math.min(next, lease.until);
      }
    }
    if (next !== Infinity) this.arm(next);
    for (const value of due) this.onExpired(value);
  }

  private arm(at: number): void {
    this.disarm();
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
    // Leases alone must not keep a process alive.
    this.timer.unref?.();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}
