// Picks a BeatStore by URL, and says which URL beat uses when none is set:
// the broker's, when the broker can hold beat state (sqlite, redis, memory),
// else the result backend's, else it asks for beatStoreUrl.
import { ConfigurationError } from "../../errors.js";
import type { Settings } from "../../config.js";
import { maskUrl, schemeOf } from "../../url.js";
import type { BeatStore, BeatStoreOptions } from "../store.js";
import { MemoryBeatStore } from "./memory.js";
import { SqliteBeatStore } from "./sqlite.js";

const STATEFUL = ["sqlite", "redis", "rediss", "memory"];

export async function createBeatStore(url: string, opts: BeatStoreOptions): Promise<BeatStore> {
  switch (schemeOf(url)) {
    case "memory":
      return new MemoryBeatStore(url, opts);
    case "sqlite":
      return new SqliteBeatStore(url, opts);
    case "redis":
    case "rediss": {
      const { RedisBeatStore } = await import("./redis.js");
      return new RedisBeatStore(url, opts);
    }
    default:
      throw new ConfigurationError(`unsupported beat store URL ${maskUrl(url)} (use sqlite://, redis:// or memory://)`);
  }
}

export function beatStoreUrl(settings: Settings): string {
  if (settings.beatStoreUrl) return settings.beatStoreUrl;
  for (const url of [settings.brokerUrl, settings.resultBackend]) {
    if (url && STATEFUL.includes(schemeOf(url))) return url;
  }
  throw new ConfigurationError(
    `beat needs a store for its lease and state, and neither the broker (${maskUrl(settings.brokerUrl)}) nor the result backend can hold it: ` +
      `set beatStoreUrl (CELERIAC_BEAT_STORE_URL) to a sqlite:// or redis:// URL`,
  );
}
