// Dynamic beat entries: add, change, remove and list schedule entries at run
// time. They live in the beat store, so every beat process (and the leader of
// the moment) picks them up on its next pass, with no restart.
import type { Celeriac } from "../app.js";
import { toBeatEntry, toStoredEntry, type BeatEntry, type BeatEntryInput } from "./entry.js";
import type { BeatStore, LeaseInfo } from "./store.js";
import { beatStoreUrl, createBeatStore } from "./stores/index.js";

/** An entry as `celeriac beat list` and the dashboard show it: its schedule as text and as a spec. */
export function describeEntry(e: BeatEntry) {
  return {
    name: e.name,
    task: e.task,
    schedule: e.schedule.toString(),
    spec: e.schedule.toSpec(),
    args: e.args,
    kwargs: e.kwargs,
    options: e.options,
    enabled: e.enabled,
    source: e.source,
  };
}

export class BeatEntries {
  private store: BeatStore | null;
  private readonly ownsStore: boolean;

  /** `store`: share an open store (e.g. a running Beat's); by default one is opened from the settings and closed by close(). */
  constructor(
    readonly app: Celeriac,
    store?: BeatStore,
  ) {
    this.store = store ?? null;
    this.ownsStore = !store;
  }

  private async open(): Promise<BeatStore> {
    if (!this.store) {
      this.store = await createBeatStore(beatStoreUrl(this.app.settings), { namespace: this.app.name });
    }
    await this.store.connect();
    return this.store;
  }

  /** Adds an entry, or replaces the one of that name. Checked before it is stored. */
  async add(name: string, entry: BeatEntryInput): Promise<BeatEntry> {
    const checked = toBeatEntry(name, entry, "store");
    await (await this.open()).putEntry(toStoredEntry(checked));
    return checked;
  }

  /** Removes a stored entry (entries in the app's settings stay); false when there was none. */
  async remove(name: string): Promise<boolean> {
    return (await this.open()).removeEntry(name);
  }

  /**
   * Enables or disables an entry. An entry of the app's settings is disabled
   * by storing a copy of it that says so (a stored entry replaces a setting of
   * its name); null when there is no entry of that name.
   */
  async setEnabled(name: string, enabled: boolean): Promise<BeatEntry | null> {
    const entry = (await this.list()).find((e) => e.name === name);
    if (!entry) return null;
    const changed: BeatEntry = { ...entry, enabled, source: "store" };
    await (await this.open()).putEntry(toStoredEntry(changed));
    return changed;
  }

  /** The entries in force: the settings', with stored ones added (a stored entry replaces a setting of the same name). */
  async list(): Promise<BeatEntry[]> {
    const byName = new Map<string, BeatEntry>();
    for (const [name, e] of Object.entries(this.app.settings.beatSchedule ?? {})) byName.set(name, toBeatEntry(name, e, "settings"));
    for (const stored of await (await this.open()).listEntries()) {
      try {
        byName.set(stored.name, toBeatEntry(stored.name, stored, "store"));
      } catch {
        // A bad stored entry is reported by the beat that skips it.
      }
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The last tick sent (or skipped) per entry, epoch ms. */
  async lastTicks(): Promise<Map<string, number>> {
    return (await this.open()).lastTicks();
  }

  /** Which beat leads now (holder and fencing token), or null when none does. */
  async leader(): Promise<LeaseInfo | null> {
    return (await this.open()).lease(Date.now());
  }

  async close(): Promise<void> {
    if (this.store && this.ownsStore) {
      await this.store.close();
      this.store = null;
    }
  }
}
