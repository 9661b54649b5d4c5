// memory:// — beat state in this process only, for tests and the memory://
// broker. Stores with the same URL and namespace share one state, so several
// Beat instances in one process still contend for one lease.
import type { StoredBeatEntry } from "../entry.js";
import type { BeatStore, BeatStoreOptions, ClaimResult, LeaseInfo } from "../store.js";

interface State {
  lease: LeaseInfo | null;
  lastToken: number;
  ticks: Map<string, number>;
  entries: Map<string, StoredBeatEntry>;
}

const states = new Map<string, State>();

export class MemoryBeatStore implements BeatStore {
  readonly displayUrl: string;
  private readonly state: State;

  constructor(url: string, opts: BeatStoreOptions) {
    this.displayUrl = url;
    const key = `${url}\n${opts.namespace}`;
    let s = states.get(key);
    if (!s) {
      s = { lease: null, lastToken: 0, ticks: new Map(), entries: new Map() };
      states.set(key, s);
    }
    this.state = s;
  }

  async connect(): Promise<void> {}
  async close(): Promise<void> {}

  async acquireLease(holder: string, ttlMs: number, now: number): Promise<number | null> {
    const s = this.state;
    if (s.lease && s.lease.expiresAt > now) {
      if (s.lease.holder !== holder) return null;
      s.lease.expiresAt = now + ttlMs;
      return s.lease.token;
    }
    s.lease = { holder, token: ++s.lastToken, expiresAt: now + ttlMs };
    return s.lease.token;
  }

  async releaseLease(holder: string, token: number): Promise<void> {
    const l = this.state.lease;
    if (l && l.holder === holder && l.token === token) this.state.lease = null;
  }

  async lease(now: number): Promise<LeaseInfo | null> {
    const l = this.state.lease;
    return l && l.expiresAt > now ? { ...l } : null;
  }

  async lastTicks(): Promise<Map<string, number>> {
    return new Map(this.state.ticks);
  }

  async claimTick(entry: string, tick: number, token: number, now: number): Promise<ClaimResult> {
    const l = this.state.lease;
    if (!l || l.token !== token || l.expiresAt <= now) return "fenced";
    const last = this.state.ticks.get(entry);
    if (last !== undefined && last >= tick) return "done";
    this.state.ticks.set(entry, tick);
    return "claimed";
  }

  async unclaimTick(entry: string, tick: number, previous: number, token: number, now: number): Promise<boolean> {
    const l = this.state.lease;
    if (!l || l.token !== token || l.expiresAt <= now || this.state.ticks.get(entry) !== tick) return false;
    this.state.ticks.set(entry, previous);
    return true;
  }

  async listEntries(): Promise<StoredBeatEntry[]> {
    return [...this.state.entries.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((e) => structuredClone(e));
  }

  async putEntry(entry: StoredBeatEntry): Promise<void> {
    this.state.entries.set(entry.name, structuredClone(entry));
  }

  async removeEntry(name: string): Promise<boolean> {
    if (!this.state.entries.delete(name)) return false;
    this.state.ticks.delete(name);
    return true;
  }
}
