// The beat scheduler. Any number of Beat instances (processes, machines) may
// run for one app: each pass, a beat takes or renews the leader lease in the
// BeatStore; only the holder sends. For each due tick it first claims
// (entry, tick) under its fencing token, then sends the task, so a tick is
// sent once however many beats run and whichever of them dies.
//
// After downtime (or a failover) the ticks that fell due meanwhile follow
// beatCatchUp: a tick late by less than twice the lease (the time a failover
// can take) counts as on time and is always sent; older ones are skipped
// ("none"), collapsed into the most recent one ("latest", as Celery behaves),
// or each sent ("all", up to MAX_CATCH_UP).
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Celeriac } from "../app.js";
import { ConfigurationError } from "../errors.js";
import { dueTicks } from "./due-ticks.js";
import { toBeatEntry, type BeatEntry } from "./entry.js";
import type { BeatStore } from "./store.js";
import { beatStoreUrl, createBeatStore } from "./stores/index.js";
import { tickTaskId } from "./tick-id.js";
import { assertTimeZone } from "./timezone.js";

export type CatchUpPolicy = "none" | "latest" | "all";

/** The most ticks of one entry that one pass sends when catching up. */
const MAX_CATCH_UP = 1000;
/** After a failed send, how soon the next pass tries again (ms). */
const SEND_RETRY_MS = 1000;

export interface BeatOptions {
  /** Default: a store on beatStoreUrl (or the broker's URL), opened and closed by the beat. */
  store?: BeatStore;
  catchUp?: CatchUpPolicy;
  leaseSeconds?: number;
  /** Longest sleep between passes, seconds (Celery's beat_max_loop_interval). */
  maxLoopInterval?: number;
  /** This beat's name in the lease; default host:pid:random. */
  id?: string;
  /** The clock, epoch ms; tests pass a fake one and call tick() themselves. */
  clock?: () => number;
}

export interface TickSent {
  entry: string;
  task: string;
  tick: number;
  taskId: string;
}

export class Beat extends EventEmitter {
  readonly id: string;
  readonly catchUp: CatchUpPolicy;
  readonly leaseMs: number;
  private readonly maxLoopMs: number;
  private readonly clock: () => number;
  private store: BeatStore | null;
  private readonly ownsStore: boolean;
  private readonly staticEntries: BeatEntry[];
  private readonly badDynamic = new Set<string>();
  /** Per entry: the next tick, valid while the stored last tick and the schedule are as in `key`. */
  private readonly nextTicks = new Map<string, { key: string; next: number | null }>();
  private token: number | null = null;
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;

  constructor(
    readonly app: Celeriac,
    opts: BeatOptions = {},
  ) {
    super();
    const s = app.settings;
    this.id = opts.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
    this.catchUp = opts.catchUp ?? s.beatCatchUp;
    if (!["none", "latest", "all"].includes(this.catchUp)) {
      throw new ConfigurationError(`beatCatchUp must be none, latest or all, got ${JSON.stringify(this.catchUp)}`);
    }
    const leaseSeconds = opts.leaseSeconds ?? s.beatLeaseSeconds;
    if (!(leaseSeconds > 0)) throw new ConfigurationError(`beatLeaseSeconds must be positive, got ${leaseSeconds}`);
    this.leaseMs = leaseSeconds * 1000;
    this.maxLoopMs = (opts.maxLoopInterval ?? s.beatMaxLoopInterval) * 1000;
    this.clock = opts.clock ?? Date.now;
    this.store = opts.store ?? null;
    this.ownsStore = !opts.store;
    assertTimeZone(s.timezone);
    // Static entries are checked now: a typo fails at start, not at 3 a.m.
    this.staticEntries = Object.entries(s.beatSchedule ?? {}).map(([name, e]) => toBeatEntry(name, e, "settings"));
  }

  private get log() {
    return this.app.log;
  }

  get isLeader(): boolean {
    return this.token !== null;
  }

  /** Opens the store (when the beat owns it) and starts the loop. */
  async start(): Promise<void> {
    await this.connect();
    this.log.info(
      `beat ${this.id} ready: store ${this.store!.displayUrl}, timezone ${this.app.settings.timezone}, catch-up ${this.catchUp}, ` +
        `lease ${this.leaseMs / 1000}s, ${this.staticEntries.length} entr${this.staticEntries.length === 1 ? "y" : "ies"} in settings`,
    );
    this.loopDone = this.loop();
  }

  async connect(): Promise<BeatStore> {
    if (!this.store) this.store = await createBeatStore(beatStoreUrl(this.app.settings), { namespace: this.app.name });
    await this.store.connect();
    return this.store;
  }

  /** Stops sending and gives the lease up, so another beat takes over at once. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.loopDone;
    const store = this.store;
    if (store && this.token !== null) {
      await store.releaseLease(this.id, this.token).catch((err: Error) => this.log.warn(`beat: could not release the lease: ${err.message}`));
      this.log.info(`beat ${this.id}: lease released`);
    }
    this.token = null;
    if (store && this.ownsStore) {
      await store.close();
      this.store = null;
    }
  }

  /** Runs a pass now (e.g. after an entry was added in this process). */
  wake(): void {
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let waitMs: number;
      try {
        waitMs = await this.tick();
      } catch (err) {
        this.log.error(`beat: pass failed: ${(err as Error).message}`);
        waitMs = Math.min(1000, this.leaseMs / 4);
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, waitMs));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = null;
    }
  }

  /** The entries in force: the settings', then the store's (a stored entry replaces a setting of the same name). */
  async entries(): Promise<BeatEntry[]> {
    const store = this.store ?? (await this.connect());
    const byName = new Map(this.staticEntries.map((e) => [e.name, e]));
    for (const stored of await store.listEntries()) {
      try {
        byName.set(stored.name, toBeatEntry(stored.name, stored, "store"));
        this.badDynamic.delete(stored.name);
      } catch (err) {
        if (!this.badDynamic.has(stored.name)) this.log.warn(`beat: stored entry ${JSON.stringify(stored.name)} ignored: ${(err as Error).message}`);
        this.badDynamic.add(stored.name);
      }
    }
    return [...byName.values()];
  }

  /**
   * One pass: renew or take the lease; if leader, send what is due. Returns
   * how long to sleep before the next pass, in ms.
   */
  async tick(): Promise<number> {
    const store = this.store ?? (await this.connect());
    const standbyMs = Math.min(this.leaseMs / 4, 2000);
    const token = await store.acquireLease(this.id, this.leaseMs, this.clock());
    if (token === null) {
      if (this.token !== null) this.log.warn(`beat ${this.id}: lost the lease; standing by`);
      this.token = null;
      return standbyMs;
    }
    if (token !== this.token) {
      this.log.info(`beat ${this.id}: leader (fencing token ${token})`);
      this.token = token;
      this.emit("leader", token);
    }
    const now = this.clock();
    const lastTicks = await store.lastTicks();
    let wakeAt = now + Math.min(this.maxLoopMs, this.leaseMs / 3);
    const entries = await this.entries();
    for (const name of this.nextTicks.keys()) if (!entries.some((e) => e.name === name)) this.nextTicks.delete(name);
    for (const entry of entries) {
      const next = await this.runEntry(store, entry, lastTicks.get(entry.name), now, token);
      if (next === "fenced") {
        this.log.warn(`beat ${this.id}: fenced off (another beat holds the lease); standing by`);
        this.token = null;
        return standbyMs;
      }
      if (next !== null) wakeAt = Math.min(wakeAt, next);
    }
    return Math.max(0, wakeAt - this.clock());
  }

  /** Sends what is due for one entry; returns its next tick, null for none, or "fenced". */
  private async runEntry(store: BeatStore, entry: BeatEntry, last: number | undefined, now: number, token: number): Promise<number | null | "fenced"> {
    const tz = this.app.settings.timezone;
    if (!entry.enabled) return this.skipDisabled(store, entry, last, now, token, tz);
    // Most passes find nothing due: skip the schedule arithmetic when neither
    // the last tick nor the schedule changed since the next tick was computed.
    const cacheKey = `${last}\0${JSON.stringify(entry.schedule.toSpec())}\0${tz}`;
    const cached = this.nextTicks.get(entry.name);
    if (cached && cached.key === cacheKey && (cached.next === null || cached.next > now)) return cached.next;
    const { next, idle } = await this.dueEntry(store, entry, last, now, token, tz);
    // Cache only a pass that found nothing due: then the stored last tick is unchanged.
    if (idle && next !== "fenced") this.nextTicks.set(entry.name, { key: cacheKey, next });
    return next;
  }

  /**
   * A disabled entry sends nothing, but its ticks still pass: each one that
   * falls due is recorded as skipped, so enabling it again starts from then
   * instead of catching up on the time it was off.
   */
  private async skipDisabled(store: BeatStore, entry: BeatEntry, last: number | undefined, now: number, token: number, tz: string): Promise<null | "fenced"> {
    const due = last === undefined ? now : dueTicks(entry.schedule, tz, last, now, 1).ticks.at(-1);
    if (due === undefined) return null;
    const r = await store.claimTick(entry.name, due, token, this.clock());
    return r === "fenced" ? r : null;
  }

  private async dueEntry(
    store: BeatStore,
    entry: BeatEntry,
    last: number | undefined,
    now: number,
    token: number,
    tz: string,
  ): Promise<{ next: number | null | "fenced"; idle: boolean }> {
    if (last === undefined) {
      // First sight of this entry: nothing before now is owed.
      const r = await store.claimTick(entry.name, now, token, this.clock());
      if (r === "fenced") return { next: r, idle: false };
      return { next: entry.schedule.next(now, tz), idle: false };
    }
    const { ticks, dropped } = dueTicks(entry.schedule, tz, last, now, MAX_CATCH_UP);
    if (ticks.length === 0) return { next: entry.schedule.next(Math.max(last, now), tz), idle: true };
    const graceMs = 2 * this.leaseMs;
    const onTime = ticks.filter((t) => now - t <= graceMs);
    const late = ticks.filter((t) => now - t > graceMs);
    const send = this.catchUp === "all" ? ticks : this.catchUp === "latest" && onTime.length === 0 ? late.slice(-1) : onTime;
    const skipped = dropped + ticks.length - send.length;
    if (skipped > 0) {
      this.log.warn(
        `beat: ${entry.name}: ${skipped} missed tick${skipped === 1 ? "" : "s"} skipped (catch-up ${this.catchUp})` +
          (send.length ? `, sending ${send.length}` : ""),
      );
      if (!send.length) {
        // Record the skip, so the next pass does not weigh the same ticks again.
        const r = await store.claimTick(entry.name, ticks.at(-1)!, token, this.clock());
        if (r === "fenced") return { next: r, idle: false };
      }
    }
    let previous = last;
    for (const tick of send) {
      const r = await store.claimTick(entry.name, tick, token, this.clock());
      if (r === "fenced") return { next: r, idle: false };
      if (r === "done") continue;
      if (!(await this.send(entry, tick))) {
        // Put the tick back, so the next pass tries it again (catch-up rules apply if that is late).
        const undone = await store.unclaimTick(entry.name, tick, previous, token, this.clock());
        if (undone) return { next: this.clock() + SEND_RETRY_MS, idle: false };
        this.log.error(`beat: ${entry.name}: tick ${new Date(tick).toISOString()} could not be put back: it is lost`);
      }
      previous = tick;
    }
    return { next: entry.schedule.next(Math.max(last, ticks.at(-1) ?? now, now), tz), idle: false };
  }

  /** Sends one tick's task; false when the broker did not take it. */
  private async send(entry: BeatEntry, tick: number): Promise<boolean> {
    const taskId = tickTaskId(this.app.name, entry.name, tick);
    const o = entry.options;
    const tickIso = new Date(tick).toISOString();
    try {
      const r = this.app.sendTask(entry.task, entry.args, entry.kwargs, {
        queue: o.queue,
        priority: o.priority,
        expires: o.expires,
        exchange: o.exchange,
        routingKey: o.routingKey,
        taskId,
        headers: { ...o.headers, beat_entry: entry.name, beat_tick: tickIso },
      });
      await r.sent;
    } catch (err) {
      this.log.error(`beat: could not send ${entry.name} (${entry.task}) tick ${tickIso}: ${(err as Error).message}`);
      this.emit("sendError", err, entry.name, tick);
      return false;
    }
    this.log.info(`beat: sent ${entry.name} (${entry.task}) tick ${tickIso} as ${taskId}`);
    const sent: TickSent = { entry: entry.name, task: entry.task, tick, taskId };
    this.emit("sent", sent);
    return true;
  }
}
