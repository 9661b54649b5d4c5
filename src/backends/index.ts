// Picks a ResultBackend implementation by URL scheme.
import { ConfigurationError } from "../errors.js";
import { maskUrl, schemeOf } from "../url.js";
import type { BackendOptions, ResultBackend } from "./backend.js";
import { MemoryBackend } from "./memory.js";
import { SqliteBackend } from "./sqlite.js";

type BackendFactory = (url: string, opts: BackendOptions) => Promise<ResultBackend>;

const factories: Record<string, BackendFactory> = {
  memory: async (url, opts) => new MemoryBackend(url, opts),
  sqlite: async (url, opts) => new SqliteBackend(url, opts),
  redis: async (url, opts) => new (await import("./redis.js")).RedisBackend(url, opts),
  rediss: async (url, opts) => new (await import("./redis.js")).RedisBackend(url, opts),
  // Celery's SentinelBackend: the same layout, on the master the sentinels name.
  sentinel: async (url, opts) => new (await import("./redis.js")).RedisBackend(url, opts),
  "redis+cluster": async (url, opts) => new (await import("./redis.js")).RedisBackend(url, opts),
  "rediss+cluster": async (url, opts) => new (await import("./redis.js")).RedisBackend(url, opts),
};
factories.rpc = async (url, opts) => new (await import("./rpc.js")).RpcBackend(url, opts);

export function registerBackend(schemes: string[], factory: BackendFactory): void {
  for (const s of schemes) factories[s] = factory;
}

export async function createBackend(url: string, opts: BackendOptions = {}): Promise<ResultBackend> {
  const factory = factories[schemeOf(url)];
  if (!factory) {
    throw new ConfigurationError(
      `unsupported result backend URL ${maskUrl(url)} (known schemes: ${Object.keys(factories)
        .map((s) => `${s}://`)
        .join(", ")})`,
    );
  }
  return factory(url, opts);
}
