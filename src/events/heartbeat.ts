// A worker's heartbeat, Celery's Heart: `worker-online` at start, then
// `worker-heartbeat` every `freq` seconds, `worker-offline` at stop. Monitors
// consider a worker gone when heartbeats stop for a while.
import { loadavg, type } from "node:os";
import { VERSION } from "../version.js";
import type { EventDispatcher } from "./dispatcher.js";

export const SOFTWARE_INFO = { sw_ident: "celeriac", sw_ver: VERSION, sw_sys: systemName() };

/** Python's platform.system(): "Linux", "Darwin", "Windows". */
function systemName(): string {
  const t = type();
  return t === "Windows_NT" ? "Windows" : t;
}

export interface HeartbeatSource {
  /** Tasks running now. */
  active(): number;
  /** Tasks finished since start. */
  processed(): number;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly dispatcher: EventDispatcher,
    private readonly source: HeartbeatSource,
    readonly freq = 2,
  ) {}

  private send(type: string): void {
    this.dispatcher.send(type, {
      freq: this.freq,
      active: this.source.active(),
      processed: this.source.processed(),
      // Rounded up to 2 decimals, as Celery does.
      loadavg: loadavg().map((l) => Math.ceil(l * 100) / 100),
      ...SOFTWARE_INFO,
    });
  }

  start(): void {
    if (this.timer) return;
    this.send("worker-online");
    this.timer = setInterval(() => this.send("worker-heartbeat"), this.freq * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    this.send("worker-offline");
    await this.dispatcher.flush();
  }
}
