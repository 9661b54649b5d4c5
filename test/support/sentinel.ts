// A Redis Sentinel set of the test's own on loopback: one master, replicas
// (--replicaof) and sentinels (`redis-server FILE --sentinel`, each with a
// config file of its own, which it rewrites), on free ports. Everything is
// killed when the test file ends. A set that does not come up throws: a test
// that needs one fails loudly, never skips (the binaries are redis-server's).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { Redis } from "ioredis";
import { freePort } from "./ports.js";
import { startOwnRedis, type OwnRedis } from "./redis.js";
import { waitUntil } from "./wait.js";

export const MASTER_NAME = "celeriac-ha";

export interface SentinelSet {
  /** kombu's URL for the set: every sentinel, the master's password on the first. */
  url(db?: number): string;
  /** The transport options that go with it. */
  transportOptions: { masterName: string };
  /** Every data server, the master first. */
  servers: OwnRedis[];
  /** The port the sentinels name as master now. */
  masterPort(): Promise<number>;
  /** kill -9 of the current master; resolves with its port once it is dead. */
  killMaster(): Promise<number>;
  /** Resolves with the new master's port once the sentinels name one other than `killedPort` and it says it is master. */
  promoted(killedPort: number): Promise<number>;
  /** Kills every sentinel and server now (a script outside node:test must, or their processes keep it alive). */
  stop(): Promise<void>;
}

async function ask<T>(port: number, ...command: string[]): Promise<T> {
  const r = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return (await r.call(command[0]!, ...command.slice(1))) as T;
  } finally {
    r.disconnect();
  }
}

async function askOr<T>(port: number, fallback: T, ...command: string[]): Promise<T> {
  try {
    return await ask<T>(port, ...command);
  } catch {
    return fallback;
  }
}

export async function startSentinelSet(opts: { replicas?: number; sentinels?: number; downAfterMs?: number } = {}): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), "celeriac-sentinel-"));
  const sentinelProcs: ChildProcess[] = [];
  const killSentinels = () => {
    for (const p of sentinelProcs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  };
  after(() => {
    killSentinels();
    rmSync(dir, { recursive: true, force: true });
  });
  // Their files (a replica saves the master's snapshot) go in the scratch folder, not the working directory.
  const master = await startOwnRedis(await freePort(), ["--dir", dir]);
  const servers = [master];
  for (let i = 0; i < (opts.replicas ?? 2); i++)
    servers.push(await startOwnRedis(await freePort(), ["--dir", dir, "--replicaof", "127.0.0.1", String(master.port)]));
  const replicas = servers.length - 1;
  await waitUntil(
    "every replica in sync with the master",
    async () => (await askOr<string>(master.port, "", "INFO", "replication")).match(/^slave\d+:.*state=online/gm)?.length === replicas,
    20_000,
    50,
  );
  const sentinelPorts: number[] = [];
  for (let i = 0; i < (opts.sentinels ?? 3); i++) {
    const port = await freePort();
    const file = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        "",
      ].join("\n"),
    );
    sentinelProcs.push(spawn("redis-server", [file, "--sentinel"], { stdio: "ignore", detached: true }));
    sentinelPorts.push(port);
  }
  // A failover needs every sentinel to know the replicas and a quorum of the others.
  await waitUntil(
    "the sentinels to see the replicas and each other",
    async () => {
      for (const port of sentinelPorts) {
        const known = await askOr<unknown[]>(port, [], "SENTINEL", "REPLICAS", MASTER_NAME);
        const peers = await askOr<unknown[]>(port, [], "SENTINEL", "SENTINELS", MASTER_NAME);
        if (known.length !== replicas || peers.length !== sentinelPorts.length - 1) return false;
      }
      return true;
    },
    30_000,
    100,
  );
  const masterPort = async () => {
    for (const port of sentinelPorts) {
      const addr = await askOr<string[] | null>(port, null, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME);
      if (addr) return Number(addr[1]);
    }
    throw new Error("no sentinel answers");
  };
  return {
    url: (db = 0) => sentinelPorts.map((p, i) => `sentinel://127.0.0.1:${p}${i === 0 ? `/${db}` : ""}`).join(";"),
    transportOptions: { masterName: MASTER_NAME },
    servers,
    masterPort,
    async stop() {
      killSentinels();
      for (const s of servers) await s.kill();
    },
    async killMaster() {
      const killedPort = await masterPort();
      await servers.find((s) => s.port === killedPort)!.kill();
      return killedPort;
    },
    async promoted(killedPort) {
      let newPort = killedPort;
      await waitUntil(
        "the sentinels to promote a replica",
        async () => {
          newPort = await masterPort();
          return newPort !== killedPort && /role:master/.test(await askOr<string>(newPort, "", "INFO", "replication"));
        },
        30_000,
        20,
      );
      return newPort;
    },
  };
}
