// Collects the writes made in one tick and hands them to `write` together, so
// that a loop of `delay()` calls costs one transaction (or one round trip), not
// one per call. Each add() resolves once its batch is written.

export class WriteBatcher<T> {
  private pending: T[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
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
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.pending.length >= this.maxBatch) void this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      if (this.schedule === "microtask") queueMicrotask(() => void this.flush());
      else setImmediate(() => void this.flush());
    }
    return done;
  }

  /** Writes whatever is pending now; resolves when it and earlier writes are done. */
  flush(): Promise<void> {
    this.scheduled = false;
    if (!this.pending.length) return this.inFlight;
    const batch = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.inFlight = this.inFlight.then(async () => {
      try {
        await this.write(batch);
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    });
    return this.inFlight;
  }
}
