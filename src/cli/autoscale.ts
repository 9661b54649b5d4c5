// `--autoscale=MAX,MIN`: the pool grows when tasks wait and shrinks when it
// idles, between MIN and MAX, as Celery's worker/autoscale.py Autoscaler: up
// at once to what is running and waiting, down by one slot after keepalive
// seconds of fewer tasks than slots. It works through the worker's remote
// control view (the same resize pool_grow/pool_shrink use).
import { ConfigurationError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Worker } from "../worker/worker.js";

export interface AutoscaleRange {
  max: number;
  min: number;
}

/** "10,3" → { max: 10, min: 3 }; "10" → { max: 10, min: 0 } → min 1 (a pool has a slot at least). */
export function parseAutoscale(text: string): AutoscaleRange {
  const [maxText, minText = "1"] = text.split(",").map((s) => s.trim());
  const max = Number(maxText);
  const min = Number(minText);
  if (!Number.isInteger(max) || !Number.isInteger(min) || max < 1 || min < 0 || min > max) {
    throw new ConfigurationError(`--autoscale wants MAX,MIN with 1 <= MIN <= MAX, got ${JSON.stringify(text)}`);
  }
  return { max, min: Math.max(1, min) };
}

export class Autoscaler {
  private timer: NodeJS.Timeout | null = null;
  private lastBusy = Date.now();
  private busy = false;

  constructor(
    private readonly worker: Worker,
    private range: AutoscaleRange,
    private readonly log: Logger,
    private readonly keepaliveMs = 30_000,
    private readonly intervalMs = 1000,
  ) {}

  /** The pool starts at MAX (so prefetching is sized for it); the first pass shrinks it to MIN. */
  async start(): Promise<void> {
    await this.resizeTo(this.range.min);
    this.timer = setInterval(() => void this.pass(), this.intervalMs);
    this.timer.unref();
  }

  get bounds(): AutoscaleRange {
    return { ...this.range };
  }

  /** New bounds (remote control autoscale): the next pass moves the pool inside them. */
  setRange(range: AutoscaleRange): void {
    this.range = { ...range };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private size(): number {
    const pool = this.worker.control.stats().pool as { "max-concurrency": number };
    return pool["max-concurrency"];
  }

  private async pass(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const wanted = this.worker.control.activeInfo().length + this.worker.control.reservedInfo().length;
      const size = this.size();
      if (size > this.range.max || size < this.range.min) {
        // Outside new bounds: moved inside at once.
        await this.resizeTo(Math.min(this.range.max, Math.max(this.range.min, size)));
        this.lastBusy = Date.now();
      } else if (wanted > size && size < this.range.max) {
        await this.resizeTo(Math.min(this.range.max, wanted));
        this.lastBusy = Date.now();
      } else if (wanted < size && size > this.range.min) {
        if (Date.now() - this.lastBusy >= this.keepaliveMs) {
          await this.resizeTo(size - 1);
          this.lastBusy = Date.now();
        }
      } else {
        this.lastBusy = Date.now();
      }
    } catch (err) {
      this.log.warn(`autoscale: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async resizeTo(target: number): Promise<void> {
    const size = this.size();
    if (target === size) return;
    const { size: now, ready } = this.worker.control.poolResize(target - size);
    await ready;
    this.log.info(`autoscale: pool ${now > size ? "grew" : "shrank"} from ${size} to ${now}`);
  }
}
