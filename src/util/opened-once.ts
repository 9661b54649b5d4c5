// A promise made on first use and shared after, forgotten if it fails: the
// app's broker and result backend, subscriber connections, an AMQP channel,
// a queue declaration. Concurrent callers share one attempt; a failed one is
// forgotten, so the next use tries again. The open instance is also at hand
// without an await, for callers on a hot path.
export class OpenedOnce<T> {
  private opening: Promise<T> | null = null;
  /** The instance once open; null before, and after forget() or close(). */
  current: T | null = null;

  constructor(
    private readonly open: () => Promise<T>,
    /** Ends an instance on close() (closes a connection); nothing by default. */
    private readonly end: (instance: T) => unknown = () => {},
  ) {}

  get(): Promise<T> {
    if (!this.opening) {
      const attempt = this.open();
      this.opening = attempt;
      // Registered before any caller's await, so `current` is set by the time they resume.
      attempt.then(
        (instance) => {
          if (this.opening === attempt) this.current = instance;
        },
        () => {
          if (this.opening === attempt) this.opening = null;
        },
      );
    }
    return this.opening;
  }

  /** The attempt under way or made, without starting one: null when there is none. */
  get started(): Promise<T> | null {
    return this.opening;
  }

  /**
   * Forgets the instance, so that the next get() opens anew; with `instance`,
   * only if that is still the one held (a late close event of an old one
   * must not drop its successor). Nothing is ended: it is gone already.
   */
  forget(instance?: T): void {
    if (instance !== undefined && this.current !== instance) return;
    this.opening = null;
    this.current = null;
  }

  /** Forgets the instance and ends it, once open if it is still opening. */
  async close(): Promise<void> {
    const opening = this.opening;
    this.forget();
    await opening?.then((instance) => this.end(instance)).catch(() => {});
  }
}
