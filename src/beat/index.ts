// Beat: periodic tasks. Schedules, the scheduler, its stores and dynamic entries.
export { type Schedule, type ScheduleSpec, type IntervalUnit, isSchedule } from "./schedule.js";
export { every, IntervalSchedule } from "./interval.js";
export { crontab, cron, CronSchedule, type CrontabFields, type CronOptions } from "./crontab.js";
export { toSchedule } from "./to-schedule.js";
export { type BeatEntry, type BeatEntryInput, type BeatEntryOptions, type StoredBeatEntry } from "./entry.js";
export { Beat, type BeatOptions, type CatchUpPolicy, type TickSent } from "./beat.js";
export { BeatEntries } from "./entries.js";
export { type BeatStore, type ClaimResult, type LeaseInfo, type BeatStoreOptions } from "./store.js";
export { createBeatStore, beatStoreUrl } from "./stores/index.js";
export { MemoryBeatStore } from "./stores/memory.js";
export { SqliteBeatStore } from "./stores/sqlite.js";
