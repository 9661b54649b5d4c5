// Per-worker task rate limits with Celery's syntax ("10/s", "100/m", "1000/h",
// or a bare number per second), as token buckets.
import { ConfigurationError } from "../errors.js";

export function parseRate(rate: string | number): number {
  if (typeof rate === "number") return rate;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
  if (!m) throw new ConfigurationError(`bad rate limit ${JSON.stringify(rate)} (want e.g. "10/s", "100/m", "1000/h")`);
  const n = Number(m[1]);
  const per = m[2] === "m" ? 60 : m[2] === "h" ? 3600 : 1;
  return n / per;
}

/** Tokens refill continuously at `perSecond`; capacity 1 spaces tasks evenly, as Celery does. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    readonly perSecond: number,
    private readonly capacity = 1,
  ) {
    this.tokens = capacity;
  }

  /** Takes a token if there is one: returns 0, else the ms until one is due. */
  take(): number {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}
