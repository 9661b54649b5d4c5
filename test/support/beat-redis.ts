// Whether the test Redis (for the beat tests) answers. Without it, tests skip, except on CI
// (CI=true), where a missing Redis must fail loudly.
import { Redis } from "ioredis";

/** Redis DB 6 is this project's beat-test database (other DBs are shared). */
export const REDIS_TEST_URL = process.env.CELERIAC_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/6";

export async function redisAvailable(url = REDIS_TEST_URL): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    if (process.env.CI === "true") throw new Error(`Redis is required on CI and does not answer at ${url}`);
    return false;
  } finally {
    r.disconnect();
  }
}

/** Deletes every key matching a pattern (test clean-up). */
export async function deleteKeys(pattern: string, url = REDIS_TEST_URL): Promise<void> {
  const r = new Redis(url);
  try {
    const keys = await r.keys(pattern);
    if (keys.length) await r.del(...keys);
  } finally {
    r.disconnect();
  }
}
