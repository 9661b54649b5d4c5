// Every accepted way to write a schedule, turned into a Schedule.
import { ConfigurationError } from "../errors.js";
import { cron } from "./crontab.js";
import { every } from "./interval.js";
import { isSchedule, unitSeconds, type Schedule } from "./schedule.js";

/**
 * A Schedule from a Schedule, a cron string ("*\/5 * * * *"), "every 30s",
 * a number of seconds (Celery's float schedule) or a stored spec
 * (`{ every: 30 }`, `{ cron: "0 9 * * *", timezone: "Asia/Shanghai" }`).
 */
export function toSchedule(v: unknown): Schedule {
  if (isSchedule(v)) return v;
  if (typeof v === "number") return every(v, "seconds");
  if (typeof v === "string") {
    const trimmed = v.trim();
    const m = /^every\s+([0-9]*\.?[0-9]+)\s*([a-z]+)?$/i.exec(trimmed);
    if (m) return every(Number(m[1]) * unitSeconds(m[2] ?? "seconds"), "seconds");
    return cron(trimmed);
  }
  if (v && typeof v === "object") {
    const spec = v as Record<string, unknown>;
    if (typeof spec.every === "number") return every(spec.every, "seconds");
    if (typeof spec.cron === "string") {
      return cron(spec.cron, {
        timezone: typeof spec.timezone === "string" ? spec.timezone : undefined,
        dayFieldsMatchAll: spec.dayFieldsMatchAll === true,
      });
    }
  }
  throw new ConfigurationError(`not a schedule: ${JSON.stringify(v)} (use every(n, unit), crontab({...}), a cron string or seconds)`);
}
