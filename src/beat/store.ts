// The BeatStore interface: what beat keeps outside its process, so that any
// number of beat processes agree on one leader and on which ticks were sent.
//
// - A leader lease with a fencing token. The token only ever grows, and each
//   new holder gets a bigger one; every tick write names the token it was made
//   under and is refused unless that token still holds the lease. A leader
//   that stalled past its lease (GC pause, stopped VM) and woke up cannot
//   write, so it cannot send.
// - The last tick per entry, advanced by an atomic claim (entry, tick): a
//   claim succeeds once, only for a tick later than the stored one, only under
//   the current token. Beat claims before it sends.
// - Dynamic entries (name → stored entry), read by the leader on every pass.
import type { StoredBeatEntry } from "./entry.js";

export type ClaimResult =
  /** This tick is ours to send. */
  | "claimed"
  /** The stored last tick is at or after this one: sent (or skipped) already. */
  | "done"
  /** The token no longer holds the lease: stop, someone else leads. */
  | "fenced";

export interface LeaseInfo {
  holder: string;
  token: number;
  /** Epoch ms; on Redis computed from the key's remaining time. */
  expiresAt: number;
}

export interface BeatStore {
  /** The store's URL with any password masked. */
  readonly displayUrl: string;
  connect(): Promise<void>;
  close(): Promise<void>;

  /**
   * Takes the lease for `holder` if it is free or expired, or renews it if
   * `holder` has it. Returns the fencing token, or null when another holds it.
   */
  acquireLease(holder: string, ttlMs: number, now: number): Promise<number | null>;
  /** Gives the lease up at once (clean shutdown), if `token` still holds it. */
  releaseLease(holder: string, token: number): Promise<void>;
  lease(now: number): Promise<LeaseInfo | null>;

  /** The last claimed tick per entry name (epoch ms). */
  lastTicks(): Promise<Map<string, number>>;
  /** Atomically: if `token` holds the lease and the entry's last tick is before `tick`, sets it to `tick`. */
  claimTick(entry: string, tick: number, token: number, now: number): Promise<ClaimResult>;

  /**
   * Undoes a claim whose send failed, so a later pass sends the tick again:
   * if `token` holds the lease and the entry's last tick is still `tick`,
   * sets it back to `previous`. False when that no longer holds.
   */
  unclaimTick(entry: string, tick: number, previous: number, token: number, now: number): Promise<boolean>;

  listEntries(): Promise<StoredBeatEntry[]>;
  /** Adds or replaces a dynamic entry. */
  putEntry(entry: StoredBeatEntry): Promise<void>;
  /** Removes a dynamic entry and its tick state; false (and the tick state kept) when there was none. */
  removeEntry(name: string): Promise<boolean>;
}

export interface BeatStoreOptions {
  /** Keeps apps that share a store apart (default: the app's name). */
  namespace: string;
}
