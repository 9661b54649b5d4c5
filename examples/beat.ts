// Periodic tasks: run `celeriac -A examples/beat.ts beat` (any number of them)
// and `celeriac -A examples/beat.ts worker`, or both in one process with
// `celeriac -A examples/beat.ts worker -B`.
import { Celeriac, crontab, every } from "celeriac";

export const app = new Celeriac({
  name: "proj",
  timezone: "Asia/Shanghai", // crontab times are read in this zone (default UTC)
  beatSchedule: {
    "add-every-30s": { task: "proj.add", schedule: every(30, "seconds"), args: [16, 16] },
    "office-hours-report": {
      task: "proj.report",
      schedule: crontab({ minute: "*/15", hour: "9-17", dayOfWeek: "mon-fri" }),
      kwargs: { detail: "short" },
      options: { queue: "reports", expires: 600 },
    },
    "cleanup-every-5-min": { task: "proj.cleanup", schedule: "*/5 * * * *" },
  },
});

export const add = app.task("proj.add", (x: number, y: number) => x + y);
export const report = app.task({ name: "proj.report", params: ["detail"] }, (detail: string = "full") => `report (${detail})`);
export const cleanup = app.task("proj.cleanup", () => "cleaned");
