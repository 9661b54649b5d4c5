// Tells the processes that use one SQLite file that another process committed
// something they may be waiting for (a message published, a result stored), so
// an idle consumer or a pending get() looks at once instead of on its next poll.
//
// The channel is a file next to the database, `<db>-wake`: a writer touches it
// (utimes) after its commit, and every waiting process has an inotify watch on
// it (fs.watch). Why this and not a socket per waiter or a watch on the WAL:
// - the kernel fans one touch out to every watcher; the writer needs no list of
//   waiters, and nothing is left behind by a waiter killed with -9 (no stale
//   socket files to connect to and clean up);
// - the touch comes after the commit, so a watcher that wakes sees the row (a
//   watch on the WAL fires on the frame writes, before the commit is published
//   in the WAL index, and a reader that woke then would find nothing);
// - a writer's cost is one syscall per transaction (transactions are already
//   batched per tick), and nothing when no one watches.
// It is only a hint. Waiters keep polling: with the watch in place, at a long
// interval (a missed touch costs that much latency, never a message); without
// it (the file deleted, no inotify, e.g. a network filesystem), at the short
// interval they always used. A lost watch is set up again a while later.
import { closeSync, openSync, utimesSync, watch, type FSWatcher } from "node:fs";

/** How long a lost watch stays down before it is tried again (ms). */
const REARM_AFTER_MS = 5000;

export class CommitSignal {
  private static readonly shared = new Map<string, CommitSignal>();

  /** The signal of one database file, shared by the broker and backend of this process; release() when done. */
  static acquire(dbPath: string): CommitSignal | null {
    if (dbPath === ":memory:" || dbPath === "") return null;
    let s = CommitSignal.shared.get(dbPath);
    if (!s) CommitSignal.shared.set(dbPath, (s = new CommitSignal(`${dbPath}-wake`, () => CommitSignal.shared.delete(dbPath))));
    s.users++;
    return s;
  }

  private users = 0;
  private watcher: FSWatcher | null = null;
  private lostAt = -Infinity;
  private readonly waiting = new Set<() => void>();

  private constructor(
    readonly file: string,
    private readonly forget: () => void,
  ) {
    this.arm();
  }

  /** Whether a commit elsewhere wakes this process now (else waiters poll at their short interval). */
  get listening(): boolean {
    if (!this.watcher && performance.now() - this.lostAt >= REARM_AFTER_MS) this.arm();
    return this.watcher !== null;
  }

  /** After a commit others may wait for. Never throws: a lost channel only costs them latency. */
  notify(): void {
    const now = new Date();
    try {
      utimesSync(this.file, now, now);
    } catch {
      // Deleted, or never made (no waiter yet): nobody listens on it.
    }
  }

  /** Resolves on the next commit signal, or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiting.add(wake);
    });
  }

  /** Ends every wait now (a store closing must not sit out its wait). */
  wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }

  release(): void {
    if (--this.users > 0) return;
    this.forget();
    this.watcher?.close();
    this.watcher = null;
    this.wakeAll();
  }

  private arm(): void {
    try {
      closeSync(openSync(this.file, "a"));
      const w = watch(this.file, { persistent: false });
      w.on("change", (type) => {
        if (type === "rename") this.lose(w);
        else this.wakeAll();
      });
      w.on("error", () => this.lose(w));
      this.watcher = w;
    } catch {
      this.lostAt = performance.now();
    }
  }

  /** The file was deleted or moved (or the watch failed): poll at the short interval until it is set up again. */
  private lose(w: FSWatcher): void {
    w.close();
    if (this.watcher !== w) return;
    this.watcher = null;
    this.lostAt = performance.now();
    this.wakeAll();
  }
}
