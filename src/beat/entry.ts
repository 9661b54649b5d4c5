// A beat entry: which task to send, on which schedule, with what. Entries come
// from `beatSchedule` in the settings (static) or from the store (dynamic,
// added at run time by the API or the CLI).
import { ConfigurationError } from "../errors.js";
import type { Schedule, ScheduleSpec } from "./schedule.js";
import { toSchedule } from "./to-schedule.js";

/** Options for the sent task, as Celery's beat entry `options`. */
export interface BeatEntryOptions {
  queue?: string;
  priority?: number;
  /** Seconds after sending, or a date, after which the task is not run. */
  expires?: number | string;
  exchange?: string;
  routingKey?: string;
  headers?: Record<string, unknown>;
}

/** How a user writes an entry (the value side of `beatSchedule`). */
export interface BeatEntryInput {
  task: string;
  /** every(...), crontab({...}), a cron string, seconds, or a stored spec. */
  schedule: Schedule | ScheduleSpec | string | number;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: BeatEntryOptions;
  /** False keeps the entry but sends nothing for it (default true). */
  enabled?: boolean;
}

/** An entry in stored (JSON) form. */
export interface StoredBeatEntry {
  name: string;
  task: string;
  schedule: ScheduleSpec;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: BeatEntryOptions;
  /** Absent means enabled. */
  enabled?: boolean;
}

/** An entry ready to run. */
export interface BeatEntry {
  name: string;
  task: string;
  schedule: Schedule;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: BeatEntryOptions;
  /** A disabled entry is listed but beat sends nothing for it. */
  enabled: boolean;
  /** Where it came from: the app's settings or the store. */
  source: "settings" | "store";
}

/** Checks and normalises an entry; throws ConfigurationError naming the entry. */
export function toBeatEntry(name: string, input: unknown, source: BeatEntry["source"]): BeatEntry {
  if (!name) throw new ConfigurationError("a beat entry needs a name");
  if (!input || typeof input !== "object") throw new ConfigurationError(`beat entry ${JSON.stringify(name)} is not an object`);
  const e = input as Record<string, unknown>;
  if (typeof e.task !== "string" || !e.task) throw new ConfigurationError(`beat entry ${JSON.stringify(name)} needs a task name`);
  if (e.schedule === undefined) throw new ConfigurationError(`beat entry ${JSON.stringify(name)} needs a schedule`);
  let schedule: Schedule;
  try {
    schedule = toSchedule(e.schedule);
  } catch (err) {
    throw new ConfigurationError(`beat entry ${JSON.stringify(name)}: ${(err as Error).message}`, { cause: err });
  }
  const args = e.args ?? [];
  if (!Array.isArray(args)) throw new ConfigurationError(`beat entry ${JSON.stringify(name)}: args must be an array`);
  const kwargs = e.kwargs ?? {};
  if (typeof kwargs !== "object" || Array.isArray(kwargs)) throw new ConfigurationError(`beat entry ${JSON.stringify(name)}: kwargs must be an object`);
  const raw = (e.options ?? {}) as Record<string, unknown>;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigurationError(`beat entry ${JSON.stringify(name)}: options must be an object`);
  // A celeryconfig ported as is writes routing_key.
  const { routing_key, ...rest } = raw;
  const options = { ...(routing_key !== undefined && rest.routingKey === undefined ? { routingKey: routing_key } : {}), ...rest } as BeatEntryOptions;
  if (e.enabled !== undefined && typeof e.enabled !== "boolean")
    throw new ConfigurationError(`beat entry ${JSON.stringify(name)}: enabled must be true or false`);
  return { name, task: e.task, schedule, args, kwargs: kwargs as Record<string, unknown>, options, enabled: e.enabled !== false, source };
}

export function toStoredEntry(entry: BeatEntry): StoredBeatEntry {
  const stored: StoredBeatEntry = {
    name: entry.name,
    task: entry.task,
    schedule: entry.schedule.toSpec(),
    args: entry.args,
    kwargs: entry.kwargs,
    options: entry.options,
  };
  // Only a disabled entry says so: enabled ones are stored as before the flag existed.
  if (!entry.enabled) stored.enabled = false;
  return stored;
}
