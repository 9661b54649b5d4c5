// ioredis options from one redis:// or rediss:// URL, as Celery reads it:
// redis://[user][:password@]host[:port][/db], rediss:// with TLS.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { RedisOptions } from "ioredis";
import { ConfigurationError } from "../errors.js";
import { maskUrl } from "../url.js";

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
