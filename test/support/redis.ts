// Redis for tests: the shared server on 127.0.0.1:6379, databases 1-5 only.
// Without it the test fails loudly under CI=true and is skipped elsewhere.
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
    if (process.env.CI === "true") throw new Error(`Redis is required for this test under CI (${REDIS_HOST}:${REDIS_PORT}): ${(err as Error).message}`);
    return false;
  } finally {
    r.disconnect();
  }
}

/** A plain client on one test database, for looking at keys directly. */
export function rawClient(db: number): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db, lazyConnect: false });
}
