// Waiting for a push on queues in several slots: sharded by queue, a worker
// that consumes several queues. One blocking pop cannot name keys in two
// slots, so each queue gets a blocking pop of its own, on a connection of its
// own (a blocked connection runs nothing else, and two queues' slots may share
// a master), all in flight at once: a push to any of them wakes the fetch at
// once, instead of when its turn in a rotation comes.
//
// A pop outlives the fetch that started it: when one queue's pop answers, the
// others stay blocked until they time out or take what is pushed meanwhile.
// What they take is leased at once and kept here for the next fetch, so
// nothing taken is lost: a broker that closes gives it back to its queue, and
// a worker that dies leaves it leased, restored after the visibility timeout
// like any other unacked message. So a worker may hold up to one pop's worth
// (MAX_UNLEASED_POP) per queue beyond its prefetch window.
import type { Redis } from "ioredis";
import type { Delivery } from "../broker.js";

/** What one blocking pop returned: the list it took from, and the envelopes in the order they were queued. */
export interface Popped {
  list: string;
  envelopes: string[];
}

/** One queue's lists (one slot), and how what its pop takes becomes deliveries. */
export interface PopTarget {
  key: string;
  lists: string[];
  deliver: (popped: Popped) => Delivery[];
}

export interface ShardedWaitHooks {
  pop(blocker: Redis, lists: string[], blockMs: number, count: number): Promise<Popped | null>;
  /** The blocking connection of one slot group, opened on first use. */
  blockerFor(key: string): Promise<Redis>;
  isClosed(): boolean;
  /** A pop that answers after close: its messages go back where they were. */
  putBack(popped: Popped): Promise<void>;
}

export class ShardedWait {
  private readonly popping = new Map<string, Promise<void>>();
  private readonly taken: Delivery[] = [];
  private failure: unknown = null;
  private wake: (() => void) | null = null;

  constructor(private readonly hooks: ShardedWaitHooks) {}

  /** Deliveries that pops took since the last call, oldest first, at most `max`. */
  takeTaken(max: number): Delivery[] {
    return this.taken.splice(0, max);
  }

  /**
   * Starts a pop on every target that has none in flight, then waits until
   * one of them has taken something, or one fails (thrown here), or `blockMs`.
   */
  async wait(targets: readonly PopTarget[], blockMs: number, count: number): Promise<void> {
    for (const t of targets) if (!this.popping.has(t.key)) this.start(t, blockMs, count);
    if (!this.taken.length && !this.failure) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = null;
          resolve();
        }, blockMs);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
    const failure = this.failure;
    this.failure = null;
    if (failure && !this.taken.length) throw failure;
  }

  /** What was taken and not yet handed out, for the closing broker to give back. */
  drain(): Delivery[] {
    this.wake?.();
    return this.taken.splice(0);
  }

  private start(t: PopTarget, blockMs: number, count: number): void {
    const done = this.hooks
      .blockerFor(t.key)
      .then((blocker) => this.hooks.pop(blocker, t.lists, blockMs, count))
      .then(async (popped) => {
        if (!popped) return;
        if (this.hooks.isClosed()) await this.hooks.putBack(popped);
        else for (const d of t.deliver(popped)) this.taken.push(d);
      })
      .catch((err: unknown) => {
        // Closing disconnects the blocking connections: their pops fail, and that is no failure.
        if (!this.hooks.isClosed()) this.failure = err;
      })
      .finally(() => {
        this.popping.delete(t.key);
        this.wake?.();
      });
    this.popping.set(t.key, done);
  }
}
