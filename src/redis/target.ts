// What a Redis URL setting points at, for every connection the broker, the
// result backend or the beat store opens to it:
// - one server, or a failover list of them ("redis://h1;redis://h2", kombu's
//   alternates): connections move to the next by the failover strategy when
//   the one they use fails or turns out to be a read-only replica;
// - a Redis Sentinel set ("sentinel://:pw@s1:26379;sentinel://s2:26379", as
//   kombu's SentinelChannel and Celery's SentinelBackend read it): the
//   sentinels are asked for the master named by the masterName transport
//   option, again after every lost connection, so a promoted replica is
//   followed without a restart (ioredis's SentinelConnector).
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
  private readonly cursor: FailoverCursor | null;
  private readonly nodeOptions = new Map<string, RedisOptions>();
  private readonly sentinel: RedisNode | null;

  constructor(url: string, opts: RedisTargetOptions = {}) {
    this.displayUrl = maskUrl(url);
    const urls = splitUrlList(url);
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

  /** Where a new connection goes first. */
  initial(): RedisNode {
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
