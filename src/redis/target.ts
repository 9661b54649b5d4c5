// What a Redis URL setting points at, for every connection the broker, the
// result backend or the beat store opens to it:
// - one server, or a failover list of them ("redis://h1;redis://h2", kombu's
//   alternates): connections move to the next by the failover strategy when
//   the one they use fails or turns out to be a read-only replica;
// - a Redis Sentinel set ("sentinel://:pw@s1:26379;sentinel://s2:26379", as
//   kombu's SentinelChannel and Celery's SentinelBackend read it): the
//   sentinels are asked for the master named by the masterName transport
//   option, again after every lost connection, so a promoted replica is
//   followed without a restart (ioredis's SentinelConnector);
// - a Redis Cluster ("redis+cluster://h1:7000;redis+cluster://h2:7001", any
//   nodes of it: ioredis's Cluster asks them for the slot map and follows
//   MOVED/ASK and promoted replicas itself). Either every key goes under the
//   globalKeyprefix transport option (kombu's global_keyprefix), which must
//   hold a hash tag ("{celery}"), so all of them share one slot and the
//   multi-key scripts and transactions stay legal; or, for the broker,
//   shardByQueue puts each queue's keys under a tag of its own
//   (src/brokers/redis/layout.ts; docs/high-availability.md).
// The prefix applies to one server too, as kombu's option does.
import type { RedisOptions } from "ioredis";
import { ConfigurationError } from "../errors.js";
import { FailoverCursor, splitUrlList, type FailoverStrategy } from "../failover.js";
import { maskUrl, schemeOf } from "../url.js";
import { redisOptionsFromUrl } from "./url-options.js";

/** Transport options that choose the target: Celery's names in camelCase, kombu's snake_case accepted too. */
export interface RedisTargetOptions {
  failoverStrategy?: FailoverStrategy;
  /** The Sentinel master's name (kombu's master_name): required for sentinel:// URLs. */
  masterName?: string;
  master_name?: string;
  /** How to talk to the sentinels themselves (kombu's sentinel_kwargs): password, username. */
  sentinelKwargs?: Record<string, unknown>;
  sentinel_kwargs?: Record<string, unknown>;
  /** Put before every key and pub/sub channel (kombu's global_keyprefix); required with a hash tag on a cluster. */
  globalKeyprefix?: string;
  global_keyprefix?: string;
  /**
   * The broker's second cluster layout: each queue's keys under a hash tag of
   * its own, so queues spread over the masters (Celeriac only; see
   * src/brokers/redis/layout.ts). The prefix then holds no brace.
   */
  shardByQueue?: boolean;
}

/** A server to connect to: its URL (for log lines, masked) and the ioredis options that reach it. */
export interface RedisNode {
  url: string;
  options: RedisOptions;
}

const DEFAULT_SENTINEL_PORT = 26379;
const SENTINEL_KWARGS: Record<string, keyof RedisOptions> = { password: "sentinelPassword", username: "sentinelUsername" };

export class RedisTarget {
  readonly displayUrl: string;
  /** The database number (pub/sub channels are not per database, so fanout names carry it). */
  readonly db: number;
  /** The Sentinel master's name, or null when the URL names servers. */
  readonly masterName: string | null;
  /** What every key and channel name starts with ("" for none). */
  readonly keyPrefix: string;
  /** The cluster's seed nodes and how to talk to each, or null when the URL names no cluster. */
  readonly cluster: RedisNode[] | null;
  /** Each queue in a slot of its own (the shardByQueue option). */
  readonly shardByQueue: boolean;
  private readonly cursor: FailoverCursor | null;
  private readonly nodeOptions = new Map<string, RedisOptions>();
  private readonly sentinel: RedisNode | null;

  constructor(url: string, opts: RedisTargetOptions = {}) {
    this.displayUrl = maskUrl(url);
    const urls = splitUrlList(url);
    this.keyPrefix = keyPrefixOf(opts, this.displayUrl);
    this.cluster = null;
    this.shardByQueue = opts.shardByQueue === true;
    if (this.shardByQueue && /[{}]/.test(this.keyPrefix))
      throw new ConfigurationError(`with shardByQueue each queue has a hash tag of its own: the globalKeyprefix must hold no brace: ${this.displayUrl}`);
    if (CLUSTER_SCHEMES.has(schemeOf(urls[0]!))) {
      this.cursor = this.sentinel = this.masterName = null;
      this.cluster = clusterNodes(urls);
      this.db = 0;
      if (!this.shardByQueue && !hashTagOf(this.keyPrefix))
        throw new ConfigurationError(
          `a Redis Cluster needs the globalKeyprefix transport option with a hash tag, e.g. "{celery}", so that every key shares one slot (or, for the broker, shardByQueue): ${this.displayUrl}`,
        );
      return;
    }
    if (schemeOf(urls[0]!) === "sentinel") {
      this.cursor = null;
      this.sentinel = { url: this.displayUrl, options: sentinelOptions(urls, opts) };
      this.db = this.sentinel.options.db ?? 0;
      this.masterName = this.sentinel.options.name!;
      return;
    }
    this.sentinel = null;
    this.masterName = null;
    for (const u of urls) {
      // Every key set, so that moving to a node clears what the last one had (a password, TLS).
      const o = redisOptionsFromUrl(u);
      this.nodeOptions.set(u, { host: o.host, port: o.port, db: o.db, username: o.username, password: o.password, tls: o.tls });
    }
    this.cursor = new FailoverCursor(urls, opts.failoverStrategy);
    const dbs = new Set([...this.nodeOptions.values()].map((o) => o.db ?? 0));
    if (dbs.size > 1) throw new ConfigurationError(`the servers of a failover list must use one database number: ${this.displayUrl}`);
    this.db = [...dbs][0]!;
  }

  /** How many servers a connect may try in one round: the list's, or 1 for Sentinel (which tries its sentinels itself). */
  get servers(): number {
    return this.cursor?.urls.length ?? 1;
  }

  /** Where a new connection goes first (a cluster's first seed node). */
  initial(): RedisNode {
    if (this.cluster) return this.cluster[0]!;
    if (this.sentinel) return this.sentinel;
    return this.node(this.cursor!.current);
  }

  /** After a failure on `failed`: the node to try next, or null when there is nowhere else (one server, or Sentinel's own choice). */
  next(failed: RedisNode): RedisNode | null {
    if (!this.cursor?.alternatives) return null;
    const url = this.cursor.failed(failed.url);
    return url === failed.url ? null : this.node(url);
  }

  private node(url: string): RedisNode {
    return { url, options: this.nodeOptions.get(url)! };
  }
}

const CLUSTER_SCHEMES = new Set(["redis+cluster", "rediss+cluster"]);

/** The prefix transport option, checked: a string, and not one that makes key names ambiguous. */
function keyPrefixOf(opts: RedisTargetOptions, displayUrl: string): string {
  const prefix = opts.globalKeyprefix ?? opts.global_keyprefix ?? "";
  if (typeof prefix !== "string") throw new ConfigurationError(`the globalKeyprefix transport option is a string: ${displayUrl}`);
  return prefix;
}

/**
 * The part of a key Redis Cluster hashes: between the first "{" and the next
 * "}", when that is not empty (Redis's own rule); null when there is none.
 */
export function hashTagOf(key: string): string | null {
  const open = key.indexOf("{");
  if (open < 0) return null;
  const close = key.indexOf("}", open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/** The seed nodes of redis+cluster:// URLs: host, port, credentials and TLS each, no database (a cluster has only 0). */
function clusterNodes(urls: string[]): RedisNode[] {
  return urls.map((u) => {
    const scheme = schemeOf(u);
    if (!CLUSTER_SCHEMES.has(scheme)) throw new ConfigurationError(`a cluster list holds redis+cluster:// URLs only: ${maskUrl(u)}`);
    const o = redisOptionsFromUrl(u.replace(/^[a-z]+\+cluster:/i, scheme === "rediss+cluster" ? "rediss:" : "redis:"));
    if (o.db) throw new ConfigurationError(`a Redis Cluster has database 0 only: ${maskUrl(u)}`);
    return { url: u, options: { host: o.host, port: o.port, username: o.username, password: o.password, tls: o.tls } };
  });
}

/** ioredis's sentinel options from kombu's sentinel URLs and transport options. */
function sentinelOptions(urls: string[], opts: RedisTargetOptions): RedisOptions {
  const name = opts.masterName ?? opts.master_name;
  if (typeof name !== "string" || !name) {
    throw new ConfigurationError(`sentinel:// URLs need the masterName transport option (kombu's master_name): ${maskUrl(urls.join(";"))}`);
  }
  const sentinels = urls.map((u) => {
    if (schemeOf(u) !== "sentinel") throw new ConfigurationError(`a sentinel list holds sentinel:// URLs only: ${maskUrl(u)}`);
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new ConfigurationError(`not a valid sentinel URL: ${maskUrl(u)}`);
    }
    return { parsed, host: parsed.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", port: parsed.port ? Number(parsed.port) : DEFAULT_SENTINEL_PORT };
  });
  // As kombu: the master's credentials and database come from the first URL.
  const first = sentinels[0]!.parsed;
  const later = sentinels.slice(1).find((s) => s.parsed.username || s.parsed.password || s.parsed.pathname.replace(/^\/+/, ""));
  if (later)
    throw new ConfigurationError(`put the master's password and database on the first sentinel URL only (kombu reads them there): ${maskUrl(urls.join(";"))}`);
  const dbText = first.pathname.replace(/^\/+/, "") || "0";
  const db = Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new ConfigurationError(`bad Redis database number in ${maskUrl(urls[0]!)}`);
  const out: RedisOptions = { sentinels: sentinels.map(({ host, port }) => ({ host, port })), name, db };
  if (first.username) out.username = decodeURIComponent(first.username);
  if (first.password) out.password = decodeURIComponent(first.password);
  const kwargs = opts.sentinelKwargs ?? opts.sentinel_kwargs ?? {};
  if (typeof kwargs !== "object" || kwargs === null) throw new ConfigurationError("the sentinelKwargs transport option is an object");
  for (const [key, value] of Object.entries(kwargs)) {
    const option = SENTINEL_KWARGS[key];
    if (!option)
      throw new ConfigurationError(`sentinel option ${JSON.stringify(key)} is not supported (supported: ${Object.keys(SENTINEL_KWARGS).join(", ")})`);
    if (value === null || value === undefined) continue;
    if (typeof value !== "string") throw new ConfigurationError(`sentinel option ${key} is a string`);
    (out as Record<string, unknown>)[option] = value;
  }
  return out;
}
