// Opening ioredis connections from Celery-style URLs, shared by the Redis
// broker and result backend: redis://[user][:password@]host[:port][/db] and
// rediss:// (TLS). Every connection reconnects with capped backoff, and its
// errors are reported with the masked URL only.
import { readFileSync, existsSync } from "node:fs";
import { isIP } from "node:net";
import { fileURLToPath } from "node:url";
import { Redis, type RedisOptions } from "ioredis";
import { ConfigurationError } from "../../errors.js";
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

export interface ConnectionOptions {
  /** Queue commands while disconnected (false for blocking reads, which must fail fast and be retried by the caller). */
  offlineQueue?: boolean;
  autoPipelining?: boolean;
}

/** A connection that retries forever with backoff (100 ms doubling, capped at 2 s). */
export function openRedis(url: string, log: (msg: string) => void, opts: ConnectionOptions = {}): Redis {
  const display = maskUrl(url);
  const client = new Redis({
    ...redisOptionsFromUrl(url),
    lazyConnect: true,
    enableOfflineQueue: opts.offlineQueue ?? true,
    enableAutoPipelining: opts.autoPipelining ?? false,
    maxRetriesPerRequest: opts.offlineQueue === false ? 0 : 20,
    retryStrategy: (times) => Math.min(2000, 100 * 2 ** Math.min(times, 5)),
  });
  let lastError = "";
  let lastLogged = 0;
  client.on("error", (err: Error) => {
    // The same error repeats on every retry: log it when it changes, or every 10 s.
    const text = maskUrl(err.message);
    const now = Date.now();
    if (text !== lastError || now - lastLogged > 10_000) {
      lastError = text;
      lastLogged = now;
      log(`redis ${display}: ${text}; reconnecting`);
    }
  });
  client.on("ready", () => {
    if (lastError) log(`redis ${display}: connected again`);
    lastError = "";
  });
  return client;
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

/** Connects every client or none: on a failure all are dropped, and the error names the masked URL only. */
export async function connectAll(displayUrl: string, clients: Redis[]): Promise<void> {
  try {
    await Promise.all(clients.map((c) => c.connect()));
  } catch (err) {
    for (const c of clients) c.disconnect();
    throw new Error(`cannot connect to ${displayUrl}: ${maskUrl((err as Error).message)}`);
  }
}

/**
 * A pub/sub connection beside `client`. It is connected before its first
 * (P)SUBSCRIBE: a lazy connect would run its ready check (INFO) on a
 * connection already in subscriber mode, which ioredis refuses.
 */
export async function openSubscriber(client: Redis): Promise<Redis> {
  const sub = client.duplicate({ enableAutoPipelining: false });
  sub.on("error", () => {}); // reported by the main connection's handler
  await sub.connect();
  return sub;
}
