// Waits for many task results with one polling loop: each round asks the store
// for every awaited id at once, so a thousand pending get() calls cost one
// query per round, not a thousand. For stores without change notification, or
// with only a hint of it (SQLite's commit signal): a round then starts as soon
// as the hint comes, and the polls between hints are far apart.
import { READY_STATES } from "../states.js";
import type { CommitSignal } from "../util/commit-signal.js";
import type { ResultMeta } from "./backend.js";
import { Waiters, type WaitOptions } from "./waiters.js";

const MIN_PAUSE_MS = 1;
const MAX_PAUSE_MS = 4;
/** The longest pause while a commit signal wakes the loop: what a missed signal costs. */
const SIGNALLED_MAX_PAUSE_MS = 250;

export class PollingWaiter {
  private readonly waiters = new Waiters();
  private running = false;
  private pause = MIN_PAUSE_MS;

  constructor(
    private readonly fetchMany: (ids: string[]) => Promise<Map<string, ResultMeta>>,
    private readonly signal: () => CommitSignal | null = () => null,
  ) {}

  wait(taskId: string, opts?: WaitOptions): Promise<ResultMeta> {
    const waiting = this.waiters.add(taskId, opts);
    this.pause = MIN_PAUSE_MS;
    if (!this.running) void this.loop();
    return waiting;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.waiters.size) {
        let found: Map<string, ResultMeta>;
        try {
          found = await this.fetchMany(this.waiters.ids());
        } catch (err) {
          this.waiters.failAll(err);
          break;
        }
        let progressed = false;
        for (const [id, meta] of found) {
          if (READY_STATES.has(meta.status) && this.waiters.settle(id, meta)) progressed = true;
        }
        if (!this.waiters.size) break;
        const signal = this.signal();
        if (signal?.listening) {
          await signal.wait(SIGNALLED_MAX_PAUSE_MS);
        } else {
          this.pause = progressed ? MIN_PAUSE_MS : Math.min(MAX_PAUSE_MS, this.pause * 2);
          await new Promise((r) => setTimeout(r, this.pause));
        }
      }
    } finally {
      this.running = false;
    }
  }
}
