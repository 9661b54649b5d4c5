// The Schedule interface: when is an entry next due after a given instant.
// Schedules are values: they say when, never keep state; the scheduler keeps
// the last tick per entry in a BeatStore. Every schedule can be written as a
// plain JSON spec, so dynamic entries can be stored and read back.
import { ConfigurationError } from "../errors.js";

/** A schedule as stored: `{ every: seconds }` or `{ cron: "m h dom mon dow", timezone?, dayFieldsMatchAll? }`. */
export type ScheduleSpec = { every: number } | { cron: string; timezone?: string; dayFieldsMatchAll?: boolean };

export interface Schedule {
  /**
   * The first tick strictly after `after` (epoch ms), or null when there is
   * none. `timeZone` is the app's zone; a schedule with its own zone ignores it.
   */
  next(after: number, timeZone: string): number | null;
  /** The JSON form, for stores and the CLI. */
  toSpec(): ScheduleSpec;
  /** A short human description for logs and `beat list`. */
  toString(): string;
}

export function isSchedule(v: unknown): v is Schedule {
  return typeof v === "object" && v !== null && typeof (v as Schedule).next === "function" && typeof (v as Schedule).toSpec === "function";
}

export type IntervalUnit =
  | "ms"
  | "milliseconds"
  | "millisecond"
  | "s"
  | "seconds"
  | "second"
  | "m"
  | "minutes"
  | "minute"
  | "h"
  | "hours"
  | "hour"
  | "d"
  | "days"
  | "day"
  | "w"
  | "weeks"
  | "week";

const UNIT_SECONDS: Record<string, number> = {
  ms: 0.001,
  millisecond: 0.001,
  milliseconds: 0.001,
  s: 1,
  sec: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hour: 3600,
  hours: 3600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
};

export function unitSeconds(unit: string): number {
  const s = UNIT_SECONDS[unit.toLowerCase()];
  if (s === undefined) throw new ConfigurationError(`unknown time unit ${JSON.stringify(unit)} (use ms, seconds, minutes, hours, days, weeks)`);
  return s;
}
