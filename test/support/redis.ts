// Redis for tests: the shared server on 127.0.0.1:6379, databases 1-5 only.
// Without it the test fails loudly under CI=true and is skipped elsewhere.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { after } from "node:test";
import { Redis } from "ioredis";

export const REDIS_HOST = process.env.CELERIAC_TEST_REDIS_HOST ?? "127.0.0.1";
export const REDIS_PORT = Number(process.env.CELERIAC_TEST_REDIS_PORT ?? 6379);

export function redisUrl(db: number): string {
  return `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;
}

/** Resolves true when Redis answers PING; with CI=true a missing Redis is an error. */
export async function redisAvailable(): Promise<boolean> {
  const r = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch (err) {
    if (process.env.CI === "true")
      throw new Error(`Redis is required for this test under CI (${REDIS_HOST}:${REDIS_PORT}): ${(err as Error).message}`, { cause: err });
    return false;
  } finally {
    r.disconnect();
  }
}

/** A plain client on one test database, for looking at keys directly. */
export function rawClient(db: number): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db, lazyConnect: false });
}

export interface OwnRedis {
  port: number;
  url(db?: number): string;
  /** SIGTERM and wait: Redis writes its append-only file before it exits. */
  stop(): Promise<void>;
  /** SIGKILL and wait, as a crash or an OOM kill would: only what is already in the append-only file survives. */
  kill(): Promise<void>;
  /** SIGSTOP: the server holds its connections open and answers nothing, as a stalled host does. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  start(): Promise<void>;
}

/**
 * Starts a private redis-server on `port` (never the shared 6379) with extra
 * arguments, e.g. ["--appendonly", "yes", "--dir", tmp] or ["--requirepass", pw].
 * Stopped by PID when the test file ends.
 */
export async function startOwnRedis(port: number, args: string[] = [], password?: string, tls?: { ca: Buffer; query: string }): Promise<OwnRedis> {
  let proc: ChildProcess | null = null;
  const auth = password ? `:${encodeURIComponent(password)}@` : "";
  const listen = tls ? ["--port", "0", "--tls-port", String(port)] : ["--port", String(port)];
  const own: OwnRedis = {
    port,
    url: (db = 0) => (tls ? `rediss://${auth}127.0.0.1:${port}/${db}?${tls.query}` : `redis://${auth}127.0.0.1:${port}/${db}`),
    async start() {
      proc = spawn("redis-server", [...listen, "--bind", "127.0.0.1", "--save", "", ...args], { stdio: "ignore", detached: true });
      for (let i = 0; i < 100; i++) {
        const r = new Redis({
          host: "127.0.0.1",
          port,
          password,
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
          ...(tls ? { tls: { ca: tls.ca } } : {}),
        });
        r.on("error", () => {});
        try {
          await r.connect();
          await r.ping();
          return;
        } catch {
          await new Promise((res) => setTimeout(res, 50));
        } finally {
          r.disconnect();
        }
      }
      throw new Error(`redis-server on port ${port} did not start`);
    },
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL"),
    pause: () => void proc?.kill("SIGSTOP"),
    resume: () => void proc?.kill("SIGCONT"),
  };
  async function end(signal: NodeJS.Signals) {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, "exit");
    p.kill(signal);
    p.kill("SIGCONT"); // a paused server acts on SIGTERM only once it runs again
    await exited;
  }
  after(async () => {
    const p = proc;
    if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  });
  await own.start();
  return own;
}
