// A connection made on first use and shared after: the app's broker and result
// backend. A failed open is forgotten, so the next use tries again; the open
// instance is also at hand without an await, for callers on a hot path.
export class OpenedOnce<T extends { close(): Promise<void> }> {
  private opening: Promise<T> | null = null;
  /** The instance once open; null before, and after close(). */
  current: T | null = null;

  constructor(private readonly open: () => Promise<T>) {}

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

  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = null;
    this.current = null;
    await opening?.then((instance) => instance.close()).catch(() => {});
  }
}
