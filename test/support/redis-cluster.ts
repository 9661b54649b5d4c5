// A Redis Cluster of the test's own on loopback: masters (and replicas, for a
// failover) started with `redis-server --cluster-enabled yes` on consecutive
// ports from `basePort` (kept in 6530-6559: a cluster bus listens on
// port + 10000, so the kernel's free ports will not do), joined with
// `redis-cli --cluster create`. Everything is killed when the test file ends.
// A cluster that does not come up throws: a test that needs one fails
// loudly, never skips (the binaries are redis-server's).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { Redis } from "ioredis";
import { startOwnRedis, type OwnRedis } from "./redis.js";
import { waitUntil } from "./wait.js";

/** The hash tag every test key goes under (mode one: a global key prefix in one slot). */
export const CLUSTER_PREFIX = "{celeriac-test}";

export interface OwnCluster {
  /** Every seed node, as a redis+cluster:// list. */
  url(): string;
  /** The plain redis:// URL of the master that holds `key`'s slot now (what kombu, which is not cluster-aware, must be pointed at). */
  masterUrlFor(key: string): Promise<string>;
  servers: OwnRedis[];
  /** kill -9 of the master that holds `key`'s slot (default: the test prefix's); resolves with its port once it is dead. */
  killMaster(key?: string): Promise<number>;
  /** Resolves with the new master's port once a live node says another one holds the slot and it says it is master. */
  promoted(killedPort: number, key?: string): Promise<number>;
  stop(): Promise<void>;
}

async function ask<T>(port: number, ...command: (string | number)[]): Promise<T> {
  const r = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return (await r.call(String(command[0]), ...command.slice(1))) as T;
  } finally {
    r.disconnect();
  }
}

async function askOr<T>(port: number, fallback: T, ...command: (string | number)[]): Promise<T> {
  try {
    return await ask<T>(port, ...command);
  } catch {
    return fallback;
  }
}

/** Fails loudly when a port of the range (or its bus port) is taken: another run, or a leftover cluster. */
async function assertFree(port: number): Promise<void> {
  const server = createServer();
  server.listen(port, "127.0.0.1");
  const [outcome] = await Promise.race([once(server, "listening").then(() => ["ok"]), once(server, "error")]);
  if (outcome !== "ok") throw new Error(`port ${port} is in use: cannot start the test's Redis Cluster there`);
  await new Promise((res) => server.close(res));
}

export async function startRedisCluster(basePort: number, opts: { masters?: number; replicas?: number } = {}): Promise<OwnCluster> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 0;
  const count = masters * (1 + replicas);
  if (basePort < 6530 || basePort + count - 1 > 6559) throw new Error(`cluster ports ${basePort}-${basePort + count - 1} are outside 6530-6559`);
  const dir = mkdtempSync(join(tmpdir(), "celeriac-cluster-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ports = Array.from({ length: count }, (_, i) => basePort + i);
  for (const p of ports) {
    await assertFree(p);
    await assertFree(p + 10_000);
  }
  const servers: OwnRedis[] = [];
  for (const port of ports)
    servers.push(
      await startOwnRedis(port, [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, `nodes-${port}.conf`),
        // A master is failed over about 2 s after it stops answering (the default is 15 s).
        "--cluster-node-timeout",
        "1000",
        "--dir",
        dir,
      ]),
    );
  const create = spawn("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", String(replicas), "--cluster-yes"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  create.stdout.on("data", (d: Buffer) => (output += d.toString()));
  create.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const [code] = (await once(create, "exit")) as [number | null];
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${output}`);
  await waitUntil(
    "every node to see the cluster ok, with all its nodes",
    async () => {
      for (const port of ports) {
        const info = await askOr<string>(port, "", "CLUSTER", "INFO");
        if (!/cluster_state:ok/.test(info) || !new RegExp(`cluster_known_nodes:${count}\\b`).test(info)) return false;
      }
      return true;
    },
    30_000,
    50,
  );
  if (replicas)
    await waitUntil(
      "every replica in sync with its master",
      async () => {
        for (const port of ports) {
          const info = await askOr<string>(port, "", "INFO", "replication");
          if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return false;
        }
        return true;
      },
      30_000,
      50,
    );
  const alive = () => servers.filter((s) => !killed.has(s.port));
  const killed = new Set<number>();
  /** The port of the master serving `key`'s slot, as the first live node that answers sees it. */
  const ownerOf = async (key: string): Promise<number> => {
    for (const s of alive()) {
      const slot = await askOr<number | null>(s.port, null, "CLUSTER", "KEYSLOT", key);
      const ranges = await askOr<[number, number, [string, number, string]][] | null>(s.port, null, "CLUSTER", "SLOTS");
      if (slot === null || !ranges) continue;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range) return Number(range[2][1]);
    }
    throw new Error(`no node of the cluster names the master of ${key}`);
  };
  return {
    url: () => ports.map((p) => `redis+cluster://127.0.0.1:${p}`).join(";"),
    masterUrlFor: async (key) => `redis://127.0.0.1:${await ownerOf(key)}/0`,
    servers,
    async killMaster(key = CLUSTER_PREFIX) {
      const port = await ownerOf(key);
      killed.add(port);
      await servers.find((s) => s.port === port)!.kill();
      return port;
    },
    async promoted(killedPort, key = CLUSTER_PREFIX) {
      let port = killedPort;
      await waitUntil(
        "the cluster to promote a replica",
        async () => {
          port = await ownerOf(key).catch(() => killedPort);
          return port !== killedPort && /role:master/.test(await askOr<string>(port, "", "INFO", "replication"));
        },
        30_000,
        20,
      );
      return port;
    },
    async stop() {
      for (const s of servers) await s.kill();
    },
  };
}
