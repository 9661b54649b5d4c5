// The fetch-ahead loop: keeps the worker's prefetch window full of leased
// messages without asking the broker more often than it must.
//
// The window is prefetchLimit messages: those the worker holds (reserved or
// running) plus those asked for by fetches still in flight. A fetch asks for
// at most a quarter of the window (fetchBatch): small enough that several
// are in flight in a backlog, large enough that each round trip brings many.
//
// States of the loop:
//
//   IDLE ── room in the window ──▶ FETCHING ── batch arrives ──▶ RECEIVING
//    ▲  ◀── no room: wait for roomFreed() ─┘  ▲                     │
//    │                                        │ full batch: ask for │
//    │                                        │ more, then receive  │
//    └──────────── partial batch: one fetch ──┴─────────────────────┘
//                  in flight is enough (it waits for new messages)
//   FETCHING ── fetch fails ──▶ BACKING_OFF (100 ms doubling to 2 s; said
//                               once per outage) ──▶ FETCHING
//   any ── stop() ──▶ STOPPED: what fetches in flight bring goes straight
//                     back to the broker (left leased, it would wait out the
//                     visibility timeout)
//
// While batches come full (a backlog) the whole window is asked for, so the
// broker prepares the next batches while this process reads one and runs
// another, instead of taking turns. A broker whose fetch is local (SQLite,
// memory: Broker.localFetch) gets one fetch at a time instead, for all the room
// there is once half the window is free. Each delivery is handed to `receive`
// (the checks on arrival) in order, then `received` lets the dispatcher
// start what it can.
import type { Broker, Delivery } from "../brokers/broker.js";
import type { Logger } from "../log.js";
import { maskUrl } from "../url.js";

/** What the consumer needs of the worker. */
export interface ConsumerHost {
  readonly log: Logger;
  broker(): Broker;
  /** The queues to fetch from (read at every fetch: remote control may change them). */
  readonly queues: readonly string[];
  /** Messages the worker holds now (reserved and running): they count against the window. */
  held(): number;
  /** Whether some are reserved (waiting for a slot): then only whole batches are worth fetching. */
  hasReserved(): boolean;
  /** Checks one delivery; a promise when it is settled there (awaited before the next). */
  receive(delivery: Delivery): Promise<void> | undefined;
  /** A batch was received: start what can start. */
  received(): void;
}

export interface ConsumerOptions {
  prefetchLimit: number;
  /** How long one fetch waits for a message before it comes back empty, ms. */
  waitMs?: number;
}

/** A fetch in flight and how many messages it asked for. */
interface Fetch {
  deliveries: Promise<Delivery[]>;
  max: number;
}

export class Consumer {
  readonly prefetchLimit: number;
  readonly fetchBatch: number;
  private readonly waitMs: number;
  /** Fetches in flight, oldest first: awaited in turn. */
  private readonly inFlight: Fetch[] = [];
  /** Messages asked for by the fetches in flight. */
  private asked = 0;
  private stopped = false;
  private wakeIdle: (() => void) | null = null;

  constructor(
    private readonly host: ConsumerHost,
    opts: ConsumerOptions,
  ) {
    this.prefetchLimit = opts.prefetchLimit;
    this.fetchBatch = Math.max(1, Math.floor(opts.prefetchLimit / 4));
    this.waitMs = opts.waitMs ?? 1000;
  }

  /** Runs the loop until stop(); resolves once what was in flight has been given back. */
  async run(): Promise<void> {
    const { log } = this.host;
    let failures = 0;
    let backlog = false;
    while (!this.stopped) {
      // Idle, the tasks just run send their results first: the next (blocking) fetch
      // is not on their way, and nothing can come for it before a result goes out.
      if (!backlog && !this.inFlight.length) await new Promise((r) => setImmediate(r));
      this.fill(backlog);
      const oldest = this.inFlight[0];
      if (!oldest) {
        await new Promise<void>((r) => (this.wakeIdle = r));
        continue;
      }
      let deliveries: Delivery[];
      try {
        deliveries = await oldest.deliveries;
        if (failures) log.info(`fetching from ${this.host.broker().displayUrl} again`);
        failures = 0;
      } catch (err) {
        // The broker went away: back off and try again; the broker reconnects by itself.
        // Said once per outage (as Celery's "Connection to broker lost"), not once per retry.
        failures++;
        const pause = Math.min(2_000, 100 * 2 ** Math.min(failures, 5));
        if (failures === 1) log.error(`cannot fetch from ${this.host.broker().displayUrl}: ${maskUrl((err as Error).message)}; retrying until it answers`);
        await new Promise((r) => setTimeout(r, pause));
        continue;
      } finally {
        this.inFlight.shift();
        this.asked -= oldest.max;
      }
      if (this.stopped) {
        await this.giveBack(deliveries);
        break;
      }
      for (const d of deliveries) {
        const settling = this.host.receive(d);
        if (settling) await settling;
      }
      // A full batch means more are probably waiting: ask for them before running these.
      backlog = deliveries.length >= oldest.max;
      if (backlog) this.fill(true);
      this.host.received();
    }
    for (const f of this.inFlight.splice(0)) await this.giveBack(await f.deliveries.catch(() => []));
  }

  /** A job left the worker: the loop, if idle for lack of room, looks again. */
  roomFreed(): void {
    const wake = this.wakeIdle;
    this.wakeIdle = null;
    wake?.();
  }

  /** Ends the loop within one fetch wait (run() resolves then). */
  stop(): void {
    this.stopped = true;
    this.roomFreed();
  }

  /** Asks for more while the window has room: in a backlog as much as fits, else one fetch in flight. */
  private fill(backlog: boolean): void {
    while (backlog || !this.inFlight.length) {
      const f = this.fetch();
      if (!f) return;
      this.inFlight.push(f);
    }
  }

  /**
   * Asks the broker for as many messages as the window has room for, at
   * most fetchBatch at once, or null when there is too little room to be
   * worth a round trip.
   */
  private fetch(): Fetch | null {
    const broker = this.host.broker();
    const held = this.host.held();
    const free = this.prefetchLimit - held - this.asked;
    let max: number;
    if (broker.localFetch) {
      // Nothing to overlap, and each call costs the same for one message or a hundred
      // (SQLite: one write transaction): one fetch at a time, for all the room there
      // is, once half the window is free (at once when the worker holds nothing).
      if (free <= 0 || this.asked > 0 || (held > 0 && free < Math.ceil(this.prefetchLimit / 2))) return null;
      max = free;
    } else {
      max = Math.min(free, this.fetchBatch);
      // While work is reserved or on its way, refill a whole batch at a time, not one
      // message per round trip each time a task finishes.
      if (max <= 0 || ((this.host.hasReserved() || this.asked > 0) && max < this.fetchBatch)) return null;
    }
    this.asked += max;
    // Consuming no queue (all cancelled by remote control): a fetch's wait with nothing, until add_consumer.
    // The broker is told all the same, so a push broker cancels its last consumer
    // and hands back what it had buffered (there for purge or another worker).
    if (!this.host.queues.length) {
      const told = broker.fetch([], { max, waitMs: 0, lease: true, window: this.prefetchLimit }).catch(() => []);
      return { deliveries: Promise.all([told, new Promise((r) => setTimeout(r, this.waitMs))]).then(() => []), max };
    }
    const deliveries = broker.fetch(this.host.queues, { max, waitMs: this.waitMs, lease: true, window: this.prefetchLimit });
    // Fetches are awaited in turn: one that fails (the broker went away) while an
    // older one is awaited must not count as an unhandled rejection meanwhile.
    deliveries.catch(() => {});
    return { deliveries, max };
  }

  private async giveBack(deliveries: Delivery[]): Promise<void> {
    for (const d of deliveries)
      await this.host
        .broker()
        .reject(d, true)
        .catch(() => {});
  }
}
