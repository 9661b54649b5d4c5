// Which ticks of a schedule fall in (last, now], without walking forever when
// beat was down for long and the schedule is dense (every second for a week).
import type { Schedule } from "./schedule.js";

/** Beyond this many steps, stop walking from `last` and search back from `now` instead. */
const MAX_WALK = 10_000;

export interface DueTicks {
  /** The latest due ticks, oldest first, at most `limit`. */
  ticks: number[];
  /** How many earlier due ticks were left out (a lower bound when the walk was cut short). */
  dropped: number;
}

export function dueTicks(schedule: Schedule, timeZone: string, last: number, now: number, limit: number): DueTicks {
  const ticks: number[] = [];
  let dropped = 0;
  let t = schedule.next(last, timeZone);
  let steps = 0;
  while (t !== null && t <= now) {
    ticks.push(t);
    if (ticks.length > 2 * limit) {
      dropped += ticks.length - limit;
      ticks.splice(0, ticks.length - limit);
    }
    if (++steps === MAX_WALK) {
      // Too many to walk: find the shortest window ending at `now` that holds
      // a tick, and go on from its start; what lies before it is dropped.
      for (let w = 1000; now - w > t; w *= 4) {
        const first = schedule.next(now - w, timeZone);
        if (first !== null && first <= now) {
          dropped += ticks.length; // at least; the ones never walked are not counted
          ticks.length = 0;
          t = first;
          break;
        }
      }
      if (ticks.length === 0) continue;
    }
    t = schedule.next(t, timeZone);
  }
  if (ticks.length > limit) {
    dropped += ticks.length - limit;
    ticks.splice(0, ticks.length - limit);
  }
  return { ticks, dropped };
}
