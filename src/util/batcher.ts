// Collects the writes made in one tick and hands them to `write` together, so
// that a loop of `delay()` calls costs one transaction (or one round trip), not
// one per call. Each add() resolves once its batch is written.

interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A failed write is reported to the callers that await it, not as an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class WriteBatcher<T> {
  private pending: T[] = [];
  /** The promise every add() of the pending batch returns (one per batch, not one per item). */
  private batch: Batch | null = null;
  private scheduled = false;
  /** The latest write, settled either way: writes finish in order, so earlier ones are done by then. */
  private inFlight: Promise<void> = Promise.resolve();

  /**
   * `schedule` "microtask" flushes at the end of the current job instead of the
   * next event-loop turn: as much grouping for a synchronous loop of add()s,
   * without the wait for a turn (for network stores, where that wait is latency).
   */
  constructor(
    private readonly write: (batch: T[]) => void | Promise<void>,
    private readonly maxBatch = 5000,
    private readonly schedule: "immediate" | "microtask" = "immediate",
  ) {}

  add(item: T): Promise<void> {
    this.pending.push(item);
    const batch = (this.batch ??= newBatch());
    if (this.pending.length >= this.maxBatch) void this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      if (this.schedule === "microtask") queueMicrotask(() => void this.flush());
      else setImmediate(() => void this.flush());
    }
    return batch.promise;
  }

  /** Writes whatever is pending now; resolves when it and earlier writes are done. */
  flush(): Promise<void> {
    this.scheduled = false;
    if (!this.pending.length) return this.inFlight;
    const items = this.pending;
    const batch = this.batch!;
    this.pending = [];
    this.batch = null;
    // Written now, not after the previous batch is done: `write` keeps the order
    // itself (commands on one connection, transactions on one database; so the
    // writes also finish in order), and a synchronous loop of add()s then holds
    // one batch at a time in memory, not all of them.
    let writing: Promise<void>;
    try {
      writing = Promise.resolve(this.write(items));
    } catch (err) {
      writing = Promise.reject(err);
    }
    writing.then(batch.resolve, batch.reject);
    this.inFlight = writing.catch(() => {});
    return this.inFlight;
  }
}
