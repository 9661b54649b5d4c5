// Opening ioredis connections to a RedisTarget (one server, a failover list,
// a Sentinel set or a Redis Cluster; see ./target.ts, ./cluster.ts), shared
// by the Redis broker, result backend and beat store. Every connection
// reconnects with capped backoff,
// moving along a failover list as it goes, and its outages are reported once
// each (lost, restored, stalled), naming the connection and its masked URL only.
import type * as IORedis from "ioredis";
import type { Redis } from "ioredis";
import { BrokerAuthenticationError, BrokerConnectionError } from "../errors.js";
import { maskUrl } from "../url.js";
import { requireOptional } from "../util/optional-package.js";
import { openCluster, reportClusterChanges } from "./cluster.js";
import { RedisTarget } from "./target.js";

// Required as this module loads, which is when a redis:// (rediss://, sentinel://) URL is first used.
const { Redis: RedisClient } = requireOptional<typeof IORedis>("ioredis", "redis:// URLs");

export { redisOptionsFromUrl } from "./url-options.js";

/** Where a connection reports its outages: warn when lost or stalled, info when back. */
export interface ConnectionLog {
  warn(msg: string): void;
  info(msg: string): void;
}

export interface ConnectionOptions {
  /** Which connection this is in log lines: "broker", "results"… */
  role: string;
  /** Queue commands while disconnected (false for blocking reads, which must fail fast and be retried by the caller). */
  offlineQueue?: boolean;
  autoPipelining?: boolean;
  /** Reconnect attempts a queued command waits through before it fails (default 20; 0 without the offline queue). */
  retriesPerRequest?: number;
  /** Probe the server with PING, to report one that stops answering (a stalled or SIGSTOPped Redis). */
  watchStall?: boolean;
  /**
   * Put the target's globalKeyprefix before every key (default true). A
   * pub/sub connection has no keys: its callers prefix the channel names.
   */
  prefixKeys?: boolean;
}

/** How often the stall watch probes, and how long a reply may take before the server counts as stalled (ms). */
const STALL_PROBE_MS = 1_000;
export const STALL_AFTER_MS = 5_000;

/** Rounds of the sentinels a first connect makes before it fails (about 1 s). */
const SENTINEL_ROUNDS_ON_CONNECT = 4;

/** A connection that retries forever with backoff (100 ms doubling, capped at 2 s). */
export function openRedis(to: RedisTarget | string, log: ConnectionLog, opts: ConnectionOptions): Redis {
  const target = typeof to === "string" ? new RedisTarget(to) : to;
  let node = target.initial();
  let movedTo: string | null = null;
  let everReady = false;
  const keyPrefix = opts.prefixKeys === false || !target.keyPrefix ? undefined : target.keyPrefix;
  const offlineQueue = opts.offlineQueue ?? true;
  const autoPipelining = opts.autoPipelining ?? false;
  const client: Redis = target.cluster ? openCluster(target, { offlineQueue, autoPipelining, keyPrefix, everReady: () => everReady }) : openServer();
  function openServer(): Redis {
    return new RedisClient({
      ...node.options,
      keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: offlineQueue,
      enableAutoPipelining: autoPipelining,
      maxRetriesPerRequest: opts.offlineQueue === false ? 0 : (opts.retriesPerRequest ?? 20),
      retryStrategy: (times) => {
        // ioredis reads host, port, credentials and TLS from its options at each connect.
        const next = target.next(node);
        if (next) {
          // Once connected, the outage report says where it moved; before, this is the only word of it.
          if (!everReady) log.warn(`redis ${opts.role} connection to ${maskUrl(node.url)} failed; trying ${maskUrl(next.url)}`);
          movedTo = maskUrl(next.url);
          node = next;
          Object.assign(client.options, next.options);
        }
        return Math.min(2000, 100 * 2 ** Math.min(times, 5));
      },
      // No sentinel naming the master (all down, or a wrong masterName) fails a first connect after a
      // few rounds, for the startup retry to report; once connected, the sentinels are asked forever
      // (ioredis ends a client whose sentinel retries run out).
      sentinelRetryStrategy: (times) => (!everReady && times > SENTINEL_ROUNDS_ON_CONNECT ? null : Math.min(1000, 100 * times)),
      // A replica answers writes with READONLY (a demoted master, a failover list's stand-by):
      // reconnecting asks the sentinels again, or moves along the list, and resends the command.
      reconnectOnError: (err) => (/^READONLY/.test(err.message) ? 2 : false),
    });
  }
  client.on("ready", () => {
    everReady = true;
    movedTo = null;
  });
  const name = () => {
    // A cluster's connection is to all of its nodes, not to the seed it started from.
    const base = `redis ${opts.role} connection to ${target.cluster ? target.displayUrl : maskUrl(node.url)}`;
    // Through Sentinel, which server is the master is what changes at a failover.
    const { remoteAddress, remotePort } = (client.stream ?? {}) as { remoteAddress?: string; remotePort?: number };
    return target.masterName && remotePort ? `${base} (master ${target.masterName} at ${remoteAddress}:${remotePort})` : base;
  };
  reportOutages(client, name, log, () => movedTo);
  if (target.cluster) reportClusterChanges(client, name, log, () => everReady);
  if (opts.watchStall) watchStall(client, name, log);
  return client;
}

/**
 * One line when an established connection is lost (with its first error), one
 * when it is back: not one per retry (ioredis emits an error on each attempt).
 * Before the first "ready", errors belong to whoever connects (connectAll).
 */
function reportOutages(client: Redis, name: () => string, log: ConnectionLog, movedTo: () => string | null = () => null): void {
  let wasReady = false;
  let down = false;
  let reported = false;
  let cause = "";
  // Named when ready: by the time a loss is reported, a failover list has moved on.
  let readyName = "";
  const report = () => {
    if (!down || reported) return;
    reported = true;
    const next = movedTo();
    log.warn(`${readyName} lost (${cause || "connection closed"}); ${next ? `moving to ${next}` : "reconnecting"}`);
  };
  client.on("error", (err: Error) => {
    if (!wasReady) return;
    cause ||= maskUrl(err.message);
    if (down) report();
  });
  client.on("close", () => {
    if (wasReady) down = true;
  });
  client.on("reconnecting", report);
  client.on("ready", () => {
    readyName = name();
    if (down) log.info(`${readyName} restored`);
    wasReady = true;
    down = reported = false;
    cause = "";
  });
}

/**
 * A server that keeps the socket open but stops answering (stalled, swapping,
 * SIGSTOPped) shows no error at all: commands just wait. A PING a second, when
 * none is out, tells: one warning once a reply is STALL_AFTER_MS late, one
 * line when the server answers again.
 */
function watchStall(client: Redis, name: () => string, log: ConnectionLog): void {
  let sentAt = 0;
  let stalled = false;
  const timer = setInterval(() => {
    if (client.status !== "ready") return;
    const now = Date.now();
    if (!sentAt) {
      const probe = (sentAt = now);
      client.ping().then(
        () => {
          if (stalled) log.info(`${name()} answers again after ${((Date.now() - probe) / 1000).toFixed(1)} s`);
          stalled = false;
          sentAt = 0;
        },
        () => {
          // The connection was lost: the outage report takes over from here.
          stalled = false;
          sentAt = 0;
        },
      );
    } else if (!stalled && now - sentAt >= STALL_AFTER_MS) {
      stalled = true;
      log.warn(`${name()} is not answering (no reply for ${Math.round((now - sentAt) / 1000)} s)`);
    }
  }, STALL_PROBE_MS);
  timer.unref();
  client.once("end", () => clearInterval(timer));
}

/** Redis refused the credentials: retrying cannot help. */
const AUTH_FAILURE = /WRONGPASS|NOAUTH|invalid password|invalid username-password/i;

/**
 * Connects every client or none: on a failure all are dropped. The error names
 * the masked URL and the real cause, the first connection error ioredis
 * emitted (its connect() itself only says "Connection is closed"); refused
 * credentials are a BrokerAuthenticationError, which is not retried.
 */
export async function connectAll(displayUrl: string, clients: Redis[]): Promise<void> {
  let cause: Error | null = null;
  const onError = (err: Error) => (cause ??= err);
  // A cluster tells of its seed nodes' failures (refused, wrong password) as "node error", naming the node.
  const onNodeError = (err: Error, address: string) => onError(new Error(`node ${address}: ${err.message}`));
  for (const c of clients) c.on("error", onError).on("node error", onNodeError);
  try {
    await Promise.all(clients.map((c) => c.connect()));
  } catch (err) {
    for (const c of clients) c.disconnect();
    const first = cause ?? (err as Error);
    const text = `cannot connect to ${displayUrl}: ${maskUrl(first.message)}`;
    throw AUTH_FAILURE.test(first.message) ? new BrokerAuthenticationError(text) : new BrokerConnectionError(text);
  } finally {
    for (const c of clients) c.off("error", onError).off("node error", onNodeError);
  }
}

/**
 * connectAll for the connections `open` makes, trying each server of a
 * failover list in turn before it fails: as kombu's ensure_connection, a
 * round of the list goes without waiting (the caller waits between rounds).
 */
export async function connectAny<T extends Redis[]>(target: RedisTarget, open: () => T, displayName = target.displayUrl): Promise<T> {
  for (let tried = 1; ; tried++) {
    const clients = open();
    try {
      await connectAll(displayName, clients);
      return clients;
    } catch (err) {
      // A failed connect has moved the target along the list already (openRedis's retry strategy).
      if (err instanceof BrokerAuthenticationError || tried >= target.servers) throw err;
    }
  }
}

/**
 * A pub/sub connection to `target`. It is connected before its first
 * (P)SUBSCRIBE: a lazy connect would run its ready check (INFO) on a
 * connection already in subscriber mode, which ioredis refuses.
 */
export async function openSubscriber(target: RedisTarget, log: ConnectionLog, role: string): Promise<Redis> {
  const sub = openRedis(target, log, { role, autoPipelining: false, prefixKeys: false });
  await connectAll(target.displayUrl, [sub]);
  return sub;
}
