// Picks a Broker implementation by URL scheme. Network brokers are loaded
// lazily, so their client libraries cost nothing when unused.
import { ConfigurationError } from "../errors.js";
import { maskUrl, schemeOf } from "../url.js";
import type { Broker, BrokerOptions } from "./broker.js";
import { MemoryBroker } from "./memory.js";
import { SqliteBroker } from "./sqlite.js";

type BrokerFactory = (url: string, opts: BrokerOptions) => Promise<Broker>;

const factories: Record<string, BrokerFactory> = {
  memory: async (url, opts) => new MemoryBroker(url, opts),
  sqlite: async (url, opts) => new SqliteBroker(url, opts),
  redis: async (url, opts) => new (await import("./redis/index.js")).RedisBroker(url, opts),
  rediss: async (url, opts) => new (await import("./redis/index.js")).RedisBroker(url, opts),
  // kombu's Sentinel transport: the same Redis layout, on the master the sentinels name.
  sentinel: async (url, opts) => new (await import("./redis/index.js")).RedisBroker(url, opts),
  // Redis Cluster: the same layout under a hash-tagged globalKeyprefix (one slot).
  "redis+cluster": async (url, opts) => new (await import("./redis/index.js")).RedisBroker(url, opts),
  "rediss+cluster": async (url, opts) => new (await import("./redis/index.js")).RedisBroker(url, opts),
};
for (const scheme of ["amqp", "amqps", "pyamqp", "pyamqps"])
  factories[scheme] = async (url, opts) => new (await import("./amqp/index.js")).AmqpBroker(url, opts);

/** Lets a transport module register its schemes (redis, amqp…). */
export function registerBroker(schemes: string[], factory: BrokerFactory): void {
  for (const s of schemes) factories[s] = factory;
}

export async function createBroker(url: string, opts: BrokerOptions = {}): Promise<Broker> {
  const factory = factories[schemeOf(url)];
  if (!factory) {
    throw new ConfigurationError(
      `unsupported broker URL ${maskUrl(url)} (known schemes: ${Object.keys(factories)
        .map((s) => `${s}://`)
        .join(", ")})`,
    );
  }
  return factory(url, opts);
}
