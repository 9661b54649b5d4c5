// The first connection to a broker or result backend, retried as Celery's
// broker_connection_retry_on_startup does (kombu's Connection.ensure_connection
// with Celery's defaults: 2 s, then 2 s more each time, at most 30 s, up to
// broker_connection_max_retries attempts). A worker started before its broker,
// or a producer's first send, then waits for it instead of failing. Refused
// credentials are never retried: they fail at once with BrokerAuthenticationError.
import { BrokerAuthenticationError, BrokerConnectionError } from "../errors.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../log.js";

export interface StartupRetry {
  /** brokerConnectionRetryOnStartup: false fails on the first refused connection. */
  retry: boolean;
  /** brokerConnectionMaxRetries: attempts before giving up (null or 0: forever, as in kombu). */
  maxRetries: number | null;
  log: Pick<Logger, "error" | "info">;
  /** Which connection, for the log: "broker", "results". */
  role: string;
  /** Aborted by app.close(): a connection still being retried gives up at once. */
  signal?: AbortSignal;
}

const INTERVAL_START_MS = 2_000;
const INTERVAL_STEP_MS = 2_000;
const INTERVAL_MAX_MS = 30_000;

/** Whether a failed connect may succeed later: a broker not up yet, not a wrong password or a bad URL. */
function retriable(err: unknown): boolean {
  return err instanceof BrokerConnectionError && !(err instanceof BrokerAuthenticationError);
}

export async function connectOnStartup(connect: () => Promise<void>, opts: StartupRetry): Promise<void> {
  const max = opts.maxRetries || Infinity;
  for (let attempt = 1; ; attempt++) {
    try {
      await connect();
      if (attempt > 1) opts.log.info(`${opts.role}: connected after ${attempt} attempts`);
      return;
    } catch (err) {
      if (!opts.retry || !retriable(err) || attempt > max || opts.signal?.aborted) throw err;
      const wait = Math.min(INTERVAL_MAX_MS, INTERVAL_START_MS + (attempt - 1) * INTERVAL_STEP_MS);
      // The first failure and every tenth: the cause stays in the log without a line per attempt.
      if (attempt === 1 || attempt % 10 === 0) {
        const of = max === Infinity ? "" : `/${max}`;
        opts.log.error(`${opts.role}: ${(err as Error).message}; trying again in ${wait / 1000} s (${attempt}${of})`);
      }
      await sleep(wait, undefined, { signal: opts.signal }).catch(() => {
        throw err; // closed while waiting: the last connection error is the answer
      });
    }
  }
}
