// every(n, unit): a fixed period of real time, DST-blind by design (every
// 6 hours is 6 hours even on the night clocks change). Ticks are aligned to
// the Unix epoch, not to when a process started, so every beat process, and
// the same process after a restart, agrees on which instants are ticks — the
// tick time is what the exactly-once claim is keyed on.
import { ConfigurationError } from "../errors.js";
import { unitSeconds, type IntervalUnit, type Schedule, type ScheduleSpec } from "./schedule.js";

export class IntervalSchedule implements Schedule {
  /** The period in ms (may be fractional below a second, e.g. 200 ms). */
  readonly periodMs: number;

  constructor(readonly seconds: number) {
    if (!(seconds > 0) || !Number.isFinite(seconds)) {
      throw new ConfigurationError(`an interval needs a positive number of seconds, got ${seconds}`);
    }
    this.periodMs = seconds * 1000;
    if (this.periodMs < 1) throw new ConfigurationError(`an interval of ${seconds}s is below a millisecond`);
  }

  next(after: number, _timeZone?: string): number {
    // Math.round keeps float periods (0.2 s = 200 ms) on whole milliseconds.
    let k = Math.floor(after / this.periodMs) + 1;
    while (Math.round(k * this.periodMs) <= after) k++;
    return Math.round(k * this.periodMs);
  }

  toSpec(): ScheduleSpec {
    return { every: this.seconds };
  }

  toString(): string {
    return `every ${this.seconds}s`;
  }
}

/** A schedule that is due every `n` units: `every(30, "seconds")`, `every(1.5, "hours")`. */
export function every(n: number, unit: IntervalUnit = "seconds"): IntervalSchedule {
  return new IntervalSchedule(n * unitSeconds(unit));
}
