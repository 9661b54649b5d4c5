// Keeps the leases of the messages a worker holds but has not acked: a
// prefetched or running task is not delivered to another worker while this
// one is alive, and comes back to the queue when it dies (the lease runs out).
import type { Broker, Delivery } from "../brokers/broker.js";
import type { Logger } from "../log.js";

export class LeaseKeeper {
  private timer: NodeJS.Timeout | null = null;

  /** `leased` lists the deliveries held unacked now. */
  constructor(
    private readonly broker: Broker,
    private readonly leased: () => Delivery[],
    private readonly log: Logger,
  ) {}

  /** How often leases are renewed: three times per visibility timeout, at most every half second. */
  get everyMs(): number {
    return Math.max(500, (this.broker.visibilityTimeout * 1000) / 3);
  }

  start(): void {
    this.timer = setInterval(() => void this.renew(), this.everyMs);
    this.timer.unref();
  }

  /** Extends every lease held now; a broker that cannot is warned about and asked again next time. */
  async renew(): Promise<void> {
    const leased = this.leased();
    if (!leased.length) return;
    await this.broker.extendLease(leased).catch((err: Error) => this.log.warn(`cannot renew leases: ${err.message}`));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
