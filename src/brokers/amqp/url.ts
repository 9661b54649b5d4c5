// AMQP broker URLs as kombu reads them: amqp://user:pass@host:port/vhost.
// pyamqp:// is accepted as an alias, so a Celery config string works as is.
// The path after the first "/" is the vhost, percent-decoded; an empty path
// means "/" (so amqp://host/ and amqp://host// both reach the default vhost).
import type { Options } from "amqplib";
import { ConfigurationError } from "../../errors.js";
import { FailoverCursor, splitUrlList, type FailoverStrategy } from "../../failover.js";
import { maskUrl } from "../../url.js";

export const AMQP_SCHEMES = ["amqp", "amqps", "pyamqp", "pyamqps"];

export interface AmqpUrl {
  connect: Options.Connect;
  /** The URL with the password masked. */
  display: string;
}

/** Seconds between heartbeats unless the URL says otherwise: a dead peer is noticed within two. */
const DEFAULT_HEARTBEAT = 30;

export function parseAmqpUrl(url: string): AmqpUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigurationError(`bad AMQP URL ${maskUrl(url)}`);
  }
  const scheme = u.protocol.replace(/:$/, "").toLowerCase();
  if (!AMQP_SCHEMES.includes(scheme)) throw new ConfigurationError(`not an AMQP URL: ${maskUrl(url)}`);
  const tls = scheme.endsWith("s");
  const path = u.pathname.startsWith("/") ? u.pathname.slice(1) : u.pathname;
  const vhost = path === "" ? "/" : decodeURIComponent(path);
  const q = u.searchParams;
  const int = (name: string, fallback: number) => {
    const v = q.get(name);
    if (v === null) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ConfigurationError(`AMQP URL option ${name} must be a whole number: ${maskUrl(url)}`);
    return n;
  };
  return {
    connect: {
      protocol: tls ? "amqps" : "amqp",
      hostname: u.hostname || "localhost",
      port: u.port ? Number(u.port) : tls ? 5671 : 5672,
      username: u.username ? decodeURIComponent(u.username) : "guest",
      password: u.password ? decodeURIComponent(u.password) : "guest",
      vhost,
      heartbeat: int("heartbeat", DEFAULT_HEARTBEAT),
      frameMax: int("frameMax", 131072),
    },
    display: maskUrl(url),
  };
}

/**
 * The servers of an AMQP URL setting: one, or a failover list
 * ("amqp://h1//;amqp://h2//", kombu's alternates) walked by the failover
 * strategy. The session connects to `current` and reports the one that failed.
 */
export class AmqpServers {
  /** The whole list, masked. */
  readonly display: string;
  private readonly cursor: FailoverCursor;
  private readonly parsed = new Map<string, AmqpUrl>();

  constructor(url: string, strategy?: FailoverStrategy) {
    const urls = splitUrlList(url);
    for (const u of urls) this.parsed.set(u, parseAmqpUrl(u));
    this.cursor = new FailoverCursor(urls, strategy);
    this.display = maskUrl(urls.join(";"));
  }

  /** How many servers one round of connecting tries. */
  get size(): number {
    return this.cursor.urls.length;
  }

  get current(): AmqpUrl {
    return this.parsed.get(this.cursor.current)!;
  }

  /** `failed` could not be reached or was lost: the server to use next (the same one when there is no other). */
  failed(failed: AmqpUrl): AmqpUrl {
    const url = [...this.parsed].find(([, p]) => p === failed)?.[0] ?? this.cursor.current;
    return this.parsed.get(this.cursor.failed(url))!;
  }
}
