// A connection to a Redis Cluster (redis+cluster:// URLs, see ./target.ts):
// ioredis's Cluster, which reads the slot map from any seed node, sends each
// command to the master of its key's slot, follows MOVED and ASK, and reads
// the map again when a master fails and its replica takes over. Celeriac keeps
// every key in one slot (the globalKeyprefix hash tag), so the scripts,
// transactions and pipelines that a single server runs run unchanged on the
// master that holds the slot.
import type * as IORedis from "ioredis";
import type { Redis } from "ioredis";
import { requireOptional } from "../util/optional-package.js";
import type { RedisTarget } from "./target.js";

export interface ClusterConnectionOptions {
  offlineQueue: boolean;
  autoPipelining: boolean;
  keyPrefix: string | undefined;
  /** Rounds of the seed nodes a connection makes before it gives up: forever once it was ready. */
  everReady: () => boolean;
}

/** Seed-node rounds a first connect makes before it fails, for the startup retry to report (about 1 s). */
const ROUNDS_ON_CONNECT = 4;

/**
 * The Cluster client, typed as the Redis client the broker, backend and beat
 * store use: it has the same commands (defineCommand, call, pipeline, multi,
 * pub/sub), which is all they ask of it; connection.ts reads the one field
 * that differs (stream) defensively.
 */
export function openCluster(target: RedisTarget, opts: ClusterConnectionOptions): Redis {
  // Required here, not as the module loads: connection.ts, which imports this, requires ioredis
  // first and names the URL in its message when the package is missing.
  const { Cluster } = requireOptional<typeof IORedis>("ioredis", "redis+cluster:// URLs");
  const seeds = target.cluster!;
  const { username, password, tls } = seeds[0]!.options;
  const cluster = new Cluster(
    seeds.map((s) => ({ host: s.options.host!, port: s.options.port! })),
    {
      lazyConnect: true,
      keyPrefix: opts.keyPrefix,
      enableOfflineQueue: opts.offlineQueue,
      enableAutoPipelining: opts.autoPipelining,
      // While a master is down and before its replica is promoted, its slot answers nothing:
      // commands wait out the failover (CLUSTERDOWN, TRYAGAIN, refused) in short steps.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 200,
      maxRedirections: 100,
      clusterRetryStrategy: (times) => (!opts.everReady() && times > ROUNDS_ON_CONNECT ? null : Math.min(2000, 100 * 2 ** Math.min(times, 5))),
      redisOptions: {
        username,
        password,
        tls,
        // A blocking read fails fast when its node goes, and is retried by the fetch loop.
        maxRetriesPerRequest: opts.offlineQueue ? 20 : 0,
      },
    },
  );
  return cluster as unknown as Redis;
}

/** Where cluster changes are reported. */
export interface ClusterLog {
  warn(msg: string): void;
  info(msg: string): void;
}

/** A node's loss is told again after this long, if it is still failing then (ms). */
const RETELL_AFTER_MS = 60_000;

/**
 * A cluster connection stays up while one of its nodes fails (ioredis reads
 * the slot map again and follows the promoted replica), so the outage report
 * of a single server never fires: this line tells instead, naming the node
 * (an address, no credentials). Once a minute at most per node: ioredis
 * retries a dead node, and drops and re-adds it with every slot map it
 * reads, until the cluster forgets it.
 */
export function reportClusterChanges(client: Redis, name: () => string, log: ClusterLog, everReady: () => boolean): void {
  const told = new Map<string, number>();
  client.on("node error", (err: Error, address: string) => {
    const now = Date.now();
    if (!everReady() || now - (told.get(address) ?? -Infinity) < RETELL_AFTER_MS) return;
    told.set(address, now);
    log.warn(`${name()}: cluster node ${address} lost (${err.message}); following the cluster's failover`);
  });
}
