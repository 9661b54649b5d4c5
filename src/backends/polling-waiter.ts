// Waits for many task results with one polling loop: each round asks the store
// for every awaited id at once, so a thousand pending get() calls cost one
// query per round, not a thousand. For stores without change notification.
import { TimeoutError } from "../errors.js";
import { READY_STATES } from "../states.js";
import type { ResultMeta } from "./backend.js";

interface Waiter {
  resolve: (m: ResultMeta) => void;
  reject: (e: unknown) => void;
  deadline: number;
}

const MIN_PAUSE_MS = 1;
const MAX_PAUSE_MS = 4;

export class PollingWaiter {
  private readonly waiters = new Map<string, Waiter[]>();
  private running = false;
  private pause = MIN_PAUSE_MS;

  constructor(private readonly fetchMany: (ids: string[]) => Promise<Map<string, ResultMeta>>) {}

  wait(taskId: string, timeoutMs?: number): Promise<ResultMeta> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(taskId) ?? [];
      list.push({ resolve, reject, deadline: timeoutMs === undefined ? Infinity : Date.now() + timeoutMs });
      this.waiters.set(taskId, list);
      this.pause = MIN_PAUSE_MS;
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.waiters.size) {
        let found: Map<string, ResultMeta>;
        try {
          found = await this.fetchMany([...this.waiters.keys()]);
        } catch (err) {
          for (const list of this.waiters.values()) for (const w of list) w.reject(err);
          this.waiters.clear();
          break;
        }
        const now = Date.now();
        let progressed = false;
        for (const [id, list] of this.waiters) {
          const meta = found.get(id);
          if (meta && READY_STATES.has(meta.status)) {
            this.waiters.delete(id);
            for (const w of list) w.resolve(meta);
            progressed = true;
            continue;
          }
          const live = list.filter((w) => {
            if (w.deadline > now) return true;
            w.reject(new TimeoutError(`task ${id} did not finish in time (state ${meta?.status ?? "PENDING"})`));
            return false;
          });
          if (live.length) this.waiters.set(id, live);
          else this.waiters.delete(id);
        }
        if (!this.waiters.size) break;
        this.pause = progressed ? MIN_PAUSE_MS : Math.min(MAX_PAUSE_MS, this.pause * 2);
        await new Promise((r) => setTimeout(r, this.pause));
      }
    } finally {
      this.running = false;
    }
  }
}
