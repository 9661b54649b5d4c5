// redis:// and rediss:// — beat state in Redis, for deployments whose beat
// processes run on several machines (and for RabbitMQ deployments, through
// the beatStoreUrl setting). Keys live under celeriac:beat:{namespace}:; the
// braces keep one namespace's keys in one cluster slot, as Lua needs.
import type { Redis as RedisClient } from "ioredis";
import { createLogger } from "../../log.js";
import { maskUrl } from "../../url.js";
import type { StoredBeatEntry } from "../entry.js";
import type { BeatStore, BeatStoreOptions, ClaimResult, LeaseInfo } from "../store.js";

type ScriptClient = RedisClient & {
  beatAcquireLease(lease: string, counter: string, holder: string, ttlMs: number): Promise<number | null>;
  beatReleaseLease(lease: string, holder: string, token: number): Promise<number>;
  beatClaimTick(lease: string, ticks: string, entry: string, tick: number, token: number): Promise<number>;
  beatRemoveEntry(entries: string, ticks: string, name: string): Promise<number>;
  beatUnclaimTick(lease: string, ticks: string, entry: string, tick: number, previous: number, token: number): Promise<number>;
};

export class RedisBeatStore implements BeatStore {
  readonly displayUrl: string;
  private client: ScriptClient | null = null;
  private readonly keys: { lease: string; counter: string; ticks: string; entries: string };

  constructor(
    private readonly url: string,
    opts: BeatStoreOptions,
  ) {
    this.displayUrl = maskUrl(url);
    const p = `celeriac:beat:{${opts.namespace}}:`;
    this.keys = { lease: `${p}lease`, counter: `${p}token`, ticks: `${p}ticks`, entries: `${p}entries` };
  }

  async connect(): Promise<void> {
    if (this.client) return;
    // Loaded on first use: a beat on another store needs no Redis client.
    const [{ connectAny, openRedis }, { defineScript }, { RedisTarget }] = await Promise.all([
      import("../../redis/connection.js"),
      import("../../redis/scripts.js"),
      import("../../redis/target.js"),
    ]);
    const target = new RedisTarget(this.url);
    // Calls fail after a few reconnect attempts, not 20: a beat tick that cannot reach the
    // store is retried by the next pass, and a lease must not be renewed late.
    const [client] = await connectAny(
      target,
      () => {
        const c = openRedis(target, createLogger("celeriac.beat"), { role: "beat store", retriesPerRequest: 3 }) as ScriptClient;
        defineScript(c, "beatAcquireLease", "beat-acquire-lease", 2);
        defineScript(c, "beatReleaseLease", "beat-release-lease", 1);
        defineScript(c, "beatClaimTick", "beat-claim-tick", 2);
        defineScript(c, "beatRemoveEntry", "beat-remove-entry", 2);
        defineScript(c, "beatUnclaimTick", "beat-unclaim-tick", 2);
        return [c];
      },
      `beat store ${this.displayUrl}`,
    );
    this.client = client;
  }

  private get redis(): ScriptClient {
    if (!this.client) throw new Error(`beat store ${this.displayUrl} is not connected`);
    return this.client;
  }

  async acquireLease(holder: string, ttlMs: number): Promise<number | null> {
    const token = await this.redis.beatAcquireLease(this.keys.lease, this.keys.counter, holder, Math.max(1, Math.round(ttlMs)));
    return token === null ? null : Number(token);
  }

  async releaseLease(holder: string, token: number): Promise<void> {
    await this.redis.beatReleaseLease(this.keys.lease, holder, token);
  }

  async lease(now: number): Promise<LeaseInfo | null> {
    const [[, fields], [, ttl]] = (await this.redis.multi().hgetall(this.keys.lease).pttl(this.keys.lease).exec()) as [
      [unknown, Record<string, string>],
      [unknown, number],
    ];
    if (!fields?.holder || ttl <= 0) return null;
    return { holder: fields.holder, token: Number(fields.token), expiresAt: now + ttl };
  }

  async lastTicks(): Promise<Map<string, number>> {
    const all = await this.redis.hgetall(this.keys.ticks);
    return new Map(Object.entries(all).map(([k, v]) => [k, Number(v)]));
  }

  async claimTick(entry: string, tick: number, token: number): Promise<ClaimResult> {
    const r = Number(await this.redis.beatClaimTick(this.keys.lease, this.keys.ticks, entry, tick, token));
    return r === 1 ? "claimed" : r === 0 ? "done" : "fenced";
  }

  async unclaimTick(entry: string, tick: number, previous: number, token: number): Promise<boolean> {
    return Number(await this.redis.beatUnclaimTick(this.keys.lease, this.keys.ticks, entry, tick, previous, token)) === 1;
  }

  async listEntries(): Promise<StoredBeatEntry[]> {
    const all = await this.redis.hgetall(this.keys.entries);
    return Object.keys(all)
      .sort()
      .map((k) => JSON.parse(all[k]!) as StoredBeatEntry);
  }

  async putEntry(entry: StoredBeatEntry): Promise<void> {
    await this.redis.hset(this.keys.entries, entry.name, JSON.stringify(entry));
  }

  async removeEntry(name: string): Promise<boolean> {
    return Number(await this.redis.beatRemoveEntry(this.keys.entries, this.keys.ticks, name)) === 1;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.quit().catch(() => c.disconnect());
  }
}
