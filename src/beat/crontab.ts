// Cron schedules: Celery's crontab({ minute, hour, dayOfWeek, dayOfMonth,
// monthOfYear }) and plain cron strings ("*/5 * * * *", 6 fields for seconds).
//
// croner parses the pattern and finds the next matching clock reading; we ask
// it in UTC about *wall* times (local clock readings) and map those to
// instants ourselves, because the DST rules are ours to choose:
//  - a reading the clock jumps over (spring forward) runs once, at the jump
//    (a 02:30 job runs at 03:00 on that night, as cron does);
//  - a reading that happens twice (fall back) runs once, the first time, for
//    jobs at fixed hours; jobs that run every hour run in both copies, so an
//    "every 15 minutes" job keeps running through the repeated hour.
import { Cron, CronPattern } from "croner";
import { ConfigurationError } from "../errors.js";
import { assertTimeZone, instantsOfWall, offsetAt } from "./timezone.js";
import type { Schedule, ScheduleSpec } from "./schedule.js";

/** Longest DST shift we look around for (real zones shift by 1 h, Lord Howe by 30 min). */
const MAX_SHIFT_MS = 3 * 3600_000;

export interface CronOptions {
  /** A zone for this schedule only; by default the app's `timezone`. */
  timezone?: string;
  /**
   * With both day-of-month and day-of-week restricted: true requires both to
   * match (Celery's crontab), false either (classic cron). Default false.
   */
  dayFieldsMatchAll?: boolean;
}

export class CronSchedule implements Schedule {
  private readonly cron: Cron;
  /** Whether every hour matches: such jobs also run in a repeated (fall-back) hour. */
  private readonly everyHour: boolean;

  constructor(
    readonly pattern: string,
    readonly opts: CronOptions = {},
  ) {
    if (opts.timezone) assertTimeZone(opts.timezone);
    try {
      this.cron = new Cron(pattern, { paused: true, timezone: "UTC", legacyMode: !opts.dayFieldsMatchAll });
      this.everyHour = new CronPattern(pattern).hour.every((v) => v !== 0);
    } catch (err) {
      throw new ConfigurationError(`bad cron pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The next matching wall time strictly after `wall`, or null. */
  private nextWall(wall: number): number | null {
    const d = this.cron.nextRun(new Date(wall));
    return d ? d.getTime() : null;
  }

  next(after: number, appTimeZone: string): number | null {
    const tz = this.opts.timezone ?? appTimeZone;
    // Start low enough that a reading in a coming repeated hour is not missed.
    const start = after + Math.min(offsetAt(after, tz), offsetAt(after + MAX_SHIFT_MS, tz)) - 1000;
    let best: number | null = null;
    let wall = this.nextWall(start);
    // Each match maps to its first instant (or the jump, in a gap); these only
    // grow with the wall time. A second copy in a repeated hour may be the
    // answer too, so keep the smallest candidate until first instants pass it.
    for (let guard = 0; wall !== null && guard < 100_000; guard++) {
      const { instants, gapEnd } = instantsOfWall(wall, tz);
      const first = instants[0] ?? gapEnd!;
      if (first > after) return best === null ? first : Math.min(best, first);
      const second = instants[1];
      if (this.everyHour && second !== undefined && second > after && (best === null || second < best)) best = second;
      wall = this.nextWall(wall);
    }
    return best;
  }

  toSpec(): ScheduleSpec {
    const spec: ScheduleSpec = { cron: this.pattern };
    if (this.opts.timezone) spec.timezone = this.opts.timezone;
    if (this.opts.dayFieldsMatchAll) spec.dayFieldsMatchAll = true;
    return spec;
  }

  toString(): string {
    // A crontab({...}) (both day fields must match) reads differently from a cron string.
    const kind = this.opts.dayFieldsMatchAll ? "crontab" : "cron";
    return `${kind} "${this.pattern}"${this.opts.timezone ? ` ${this.opts.timezone}` : ""}`;
  }
}

/** A cron string: "*\/5 * * * *" (minute hour day-of-month month day-of-week), or 6 fields starting with seconds. */
export function cron(pattern: string, opts: CronOptions = {}): CronSchedule {
  return new CronSchedule(pattern, opts);
}

type Field = string | number | readonly (string | number)[];

export interface CrontabFields {
  minute?: Field;
  hour?: Field;
  /** 0 or 7 = Sunday; names work too: "mon-fri", "sat,sun". */
  dayOfWeek?: Field;
  dayOfMonth?: Field;
  monthOfYear?: Field;
  /** A zone for this schedule only; by default the app's `timezone`. */
  timezone?: string;
}

function field(v: Field | undefined): string {
  if (v === undefined) return "*";
  const text = Array.isArray(v) ? v.join(",") : String(v);
  if (!text.trim()) throw new ConfigurationError("an empty crontab field");
  return text.replace(/\s+/g, "");
}

/**
 * Celery's crontab: every field defaults to "*" (so `crontab()` is every
 * minute) and, as in Celery, a restricted day of month and day of week must
 * both match.
 */
export function crontab(fields: CrontabFields = {}): CronSchedule {
  const pattern = [field(fields.minute), field(fields.hour), field(fields.dayOfMonth), field(fields.monthOfYear), field(fields.dayOfWeek)].join(" ");
  return new CronSchedule(pattern, { timezone: fields.timezone, dayFieldsMatchAll: true });
}
