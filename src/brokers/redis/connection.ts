// Opening ioredis connections from Celery-style URLs, shared by the Redis
// broker and result backend: redis://[user][:password@]host[:port][/db] and
// rediss:// (TLS). Every connection reconnects with capped backoff, and its
// outages are reported once each (lost, restored, stalled), naming the
// connection and its masked URL only.
import { readFileSync, existsSync } from "node:fs";
import { isIP } from "node:net";
import { fileURLToPath } from "node:url";
import { Redis, type RedisOptions } from "ioredis";
import { BrokerAuthenticationError, BrokerConnectionError, ConfigurationError } from "../../errors.js";
import { maskUrl } from "../../url.js";

/** ioredis options for a redis:// or rediss:// URL (db from the path, TLS for rediss). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigurationError(`not a valid Redis URL: ${maskUrl(url)}`);
  }
  const scheme = u.protocol.replace(/:$/, "").toLowerCase();
  if (scheme !== "redis" && scheme !== "rediss") throw new ConfigurationError(`not a Redis URL: ${maskUrl(url)}`);
  const dbText = u.pathname.replace(/^\/+/, "") || u.searchParams.get("db") || "0";
  const db = Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new ConfigurationError(`bad Redis database number in ${maskUrl(url)}`);
  const opts: RedisOptions = {
    host: u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    db,
  };
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  if (scheme === "rediss") {
    // Celery's URL parameters: ssl_cert_reqs=none|optional|required, ssl_ca_certs, ssl_certfile, ssl_keyfile.
    const q = (name: string) => u.searchParams.get(name) ?? undefined;
    const reqs = (q("ssl_cert_reqs") ?? "").toLowerCase().replace(/^cert_/, "");
    const host = opts.host!;
    opts.tls = {
      // SNI takes a host name only; certificates for an IP are checked against their IP SAN.
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: !(reqs === "none" || reqs === "optional"),
      ...(q("ssl_ca_certs") ? { ca: readFileSync(q("ssl_ca_certs")!) } : {}),
      ...(q("ssl_certfile") ? { cert: readFileSync(q("ssl_certfile")!) } : {}),
      ...(q("ssl_keyfile") ? { key: readFileSync(q("ssl_keyfile")!) } : {}),
    };
  }
  return opts;
}

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
}

/** How often the stall watch probes, and how long a reply may take before the server counts as stalled (ms). */
const STALL_PROBE_MS = 1_000;
export const STALL_AFTER_MS = 5_000;

/** A connection that retries forever with backoff (100 ms doubling, capped at 2 s). */
export function openRedis(url: string, log: ConnectionLog, opts: ConnectionOptions): Redis {
  const client = new Redis({
    ...redisOptionsFromUrl(url),
    lazyConnect: true,
    enableOfflineQueue: opts.offlineQueue ?? true,
    enableAutoPipelining: opts.autoPipelining ?? false,
    maxRetriesPerRequest: opts.offlineQueue === false ? 0 : (opts.retriesPerRequest ?? 20),
    retryStrategy: (times) => Math.min(2000, 100 * 2 ** Math.min(times, 5)),
  });
  reportOutages(client, `redis ${opts.role} connection to ${maskUrl(url)}`, log);
  if (opts.watchStall) watchStall(client, `redis ${opts.role} connection to ${maskUrl(url)}`, log);
  return client;
}

/**
 * One line when an established connection is lost (with its first error), one
 * when it is back: not one per retry (ioredis emits an error on each attempt).
 * Before the first "ready", errors belong to whoever connects (connectAll).
 */
function reportOutages(client: Redis, name: string, log: ConnectionLog): void {
  let wasReady = false;
  let down = false;
  let reported = false;
  let cause = "";
  const report = () => {
    if (!down || reported) return;
    reported = true;
    log.warn(`${name} lost (${cause || "connection closed"}); reconnecting`);
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
    if (down) log.info(`${name} restored`);
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
function watchStall(client: Redis, name: string, log: ConnectionLog): void {
  let sentAt = 0;
  let stalled = false;
  const timer = setInterval(() => {
    if (client.status !== "ready") return;
    const now = Date.now();
    if (!sentAt) {
      const probe = (sentAt = now);
      client.ping().then(
        () => {
          if (stalled) log.info(`${name} answers again after ${((Date.now() - probe) / 1000).toFixed(1)} s`);
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
      log.warn(`${name} is not answering (no reply for ${Math.round((now - sentAt) / 1000)} s)`);
    }
  }, STALL_PROBE_MS);
  timer.unref();
  client.once("end", () => clearInterval(timer));
}

/**
 * Reads a Lua script kept beside its module (`new URL("./scripts/x.lua", import.meta.url)`).
 * tsc does not copy .lua files to dist/, so a dist/ path falls back to the same file under src/.
 */
export function loadLua(file: URL): string {
  const path = fileURLToPath(file);
  const candidates = [path, path.replace(/([\\/])dist([\\/])/, "$1src$2")];
  for (const p of candidates) if (existsSync(p)) return readFileSync(p, "utf8");
  throw new Error(`Lua script not found (looked in ${candidates.join(", ")})`);
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
  for (const c of clients) c.on("error", onError);
  try {
    await Promise.all(clients.map((c) => c.connect()));
  } catch (err) {
    for (const c of clients) c.disconnect();
    const first = cause ?? (err as Error);
    const text = `cannot connect to ${displayUrl}: ${maskUrl(first.message)}`;
    throw AUTH_FAILURE.test(first.message) ? new BrokerAuthenticationError(text) : new BrokerConnectionError(text);
  } finally {
    for (const c of clients) c.off("error", onError);
  }
}

/**
 * A pub/sub connection beside `client`. It is connected before its first
 * (P)SUBSCRIBE: a lazy connect would run its ready check (INFO) on a
 * connection already in subscriber mode, which ioredis refuses.
 */
export async function openSubscriber(client: Redis, url: string, log: ConnectionLog, role: string): Promise<Redis> {
  const sub = client.duplicate({ enableAutoPipelining: false });
  reportOutages(sub, `redis ${role} connection to ${maskUrl(url)}`, log);
  await connectAll(maskUrl(url), [sub]);
  return sub;
}
