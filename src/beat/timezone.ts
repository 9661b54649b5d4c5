// Time-zone arithmetic on plain epoch milliseconds, from the platform's own
// tz database (Intl). A "wall" time is a local clock reading written as if it
// were UTC: wall = instant + offset. Around DST changes a wall time can map to
// no instant (the spring-forward gap) or to two (the fall-back overlap); the
// functions here say which, so schedules can decide what a tick there means.
import { ConfigurationError } from "../errors.js";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat("en-US", {
        timeZone,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
        era: "short",
      });
    } catch (err) {
      throw new ConfigurationError(`unknown time zone ${JSON.stringify(timeZone)}`, { cause: err });
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Throws ConfigurationError unless the platform knows the zone. */
export function assertTimeZone(timeZone: string): void {
  formatter(timeZone);
}

/** The zone's UTC offset at an instant, in ms (east positive: Asia/Shanghai is +8h). */
export function offsetAt(instant: number, timeZone: string): number {
  if (timeZone === "UTC" || timeZone === "Etc/UTC") return 0; // the default zone: no formatting needed
  const whole = Math.floor(instant / 1000) * 1000;
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(whole))) parts[p.type] = p.value;
  let year = Number(parts.year);
  if (parts.era === "BC" || parts.era === "B") year = 1 - year;
  const asUtc = Date.UTC(year, Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return asUtc - whole;
}

export function wallTime(instant: number, timeZone: string): number {
  return instant + offsetAt(instant, timeZone);
}

const DAY = 86_400_000;

export interface WallInstants {
  /** The instants showing this wall time: one normally, two in a fall-back overlap (earlier first), none in a gap. */
  instants: number[];
  /** For a wall time in a spring-forward gap: the instant the clocks jumped (the first real time after it). */
  gapEnd?: number;
}

/** Which instants show a given wall time in a zone. Assumes at most one offset change within a day of it (true of real zones). */
export function instantsOfWall(wall: number, timeZone: string): WallInstants {
  const before = offsetAt(wall - DAY, timeZone);
  const after = offsetAt(wall + DAY, timeZone);
  const found = new Set<number>();
  for (const off of [before, after]) {
    const u = wall - off;
    if (u + offsetAt(u, timeZone) === wall) found.add(u);
  }
  if (found.size) return { instants: [...found].sort((a, b) => a - b) };
  // A gap: the clock jumped over this wall time. The jump lies between the two
  // readings; find it (offsets change on whole seconds).
  let lo = wall - before; // shows a wall time past the gap
  let hi = wall - after; // shows a wall time before the gap
  [lo, hi] = [Math.floor(Math.min(lo, hi) / 1000) * 1000, Math.ceil(Math.max(lo, hi) / 1000) * 1000];
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (offsetAt(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return { instants: [], gapEnd: hi };
}
