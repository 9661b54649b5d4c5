// Throughput and latency over time for the dashboard's charts: finished tasks
// counted in fixed time buckets, with their runtimes for average and p95.
export interface SeriesPoint {
  /** Bucket start, epoch seconds. */
  t: number;
  succeeded: number;
  failed: number;
  /** Seconds; null when nothing finished in the bucket. */
  avgRuntime: number | null;
  p95Runtime: number | null;
}

interface Bucket {
  t: number;
  succeeded: number;
  failed: number;
  runtimes: number[];
  seen: number;
}

/** Runtimes kept per bucket for the percentile (a reservoir sample beyond that). */
const SAMPLE = 500;

export class TaskSeries {
  private readonly buckets: Bucket[] = [];

  constructor(
    readonly bucketSeconds = 5,
    readonly keep = 120,
  ) {}

  private bucketAt(ts: number): Bucket {
    const t = Math.floor(ts / this.bucketSeconds) * this.bucketSeconds;
    let last = this.buckets[this.buckets.length - 1];
    if (last && last.t === t) return last;
    const found = this.buckets.find((b) => b.t === t);
    if (found) return found;
    last = { t, succeeded: 0, failed: 0, runtimes: [], seen: 0 };
    this.buckets.push(last);
    this.buckets.sort((a, b) => a.t - b.t);
    if (this.buckets.length > this.keep) this.buckets.splice(0, this.buckets.length - this.keep);
    return last;
  }

  record(outcome: "succeeded" | "failed", at: number, runtime?: number | null): void {
    const b = this.bucketAt(at);
    b[outcome]++;
    if (typeof runtime === "number" && Number.isFinite(runtime)) {
      b.seen++;
      if (b.runtimes.length < SAMPLE) b.runtimes.push(runtime);
      else {
        const i = Math.floor(Math.random() * b.seen);
        if (i < SAMPLE) b.runtimes[i] = runtime;
      }
    }
  }

  /** The points of the last `keep` buckets up to now, empty buckets included, oldest first. */
  points(now = Date.now() / 1000, count = 60): SeriesPoint[] {
    const end = Math.floor(now / this.bucketSeconds) * this.bucketSeconds;
    const byT = new Map(this.buckets.map((b) => [b.t, b]));
    const out: SeriesPoint[] = [];
    for (let t = end - (count - 1) * this.bucketSeconds; t <= end; t += this.bucketSeconds) {
      const b = byT.get(t);
      const sorted = b ? [...b.runtimes].sort((x, y) => x - y) : [];
      out.push({
        t,
        succeeded: b?.succeeded ?? 0,
        failed: b?.failed ?? 0,
        avgRuntime: sorted.length ? sorted.reduce((s, x) => s + x, 0) / sorted.length : null,
        p95Runtime: sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]! : null,
      });
    }
    return out;
  }
}
