// Schedule arithmetic with a fake clock: every "now" is a fixed instant.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cron, crontab } from "../../src/beat/crontab.js";
import { every } from "../../src/beat/interval.js";
import type { Schedule } from "../../src/beat/schedule.js";
import { toSchedule } from "../../src/beat/to-schedule.js";
import { toBeatEntry } from "../../src/beat/entry.js";
import { ConfigurationError } from "../../src/errors.js";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The next `n` ticks after `from`, as ISO strings. */
function ticks(s: Schedule, from: string, n: number, tz = "UTC"): (string | null)[] {
  const out: (string | null)[] = [];
  let t: number | null = at(from);
  for (let i = 0; i < n && t !== null; i++) {
    t = s.next(t, tz);
    out.push(iso(t));
  }
  return out;
}

describe("every(n, unit)", () => {
  test("ticks on multiples of the period since the epoch, strictly after the given instant", () => {
    const s = every(30, "seconds");
    assert.deepEqual(ticks(s, "2026-01-01T00:00:10Z", 3), ["2026-01-01T00:00:30.000Z", "2026-01-01T00:01:00.000Z", "2026-01-01T00:01:30.000Z"]);
    assert.equal(iso(s.next(at("2026-01-01T00:00:30Z"), "UTC")), "2026-01-01T00:01:00.000Z");
  });

  test("units and fractional periods", () => {
    assert.equal(every(2, "minutes").periodMs, 120_000);
    assert.equal(every(1.5, "hours").periodMs, 5_400_000);
    assert.equal(every(1, "days").periodMs, 86_400_000);
    assert.deepEqual(ticks(every(0.2, "seconds"), "2026-01-01T00:00:00.050Z", 3), [
      "2026-01-01T00:00:00.200Z",
      "2026-01-01T00:00:00.400Z",
      "2026-01-01T00:00:00.600Z",
    ]);
    assert.deepEqual(ticks(every(250, "ms"), "2026-01-01T00:00:00Z", 2), ["2026-01-01T00:00:00.250Z", "2026-01-01T00:00:00.500Z"]);
  });

  test("is real time: a DST change does not move it", () => {
    // 6-hourly across New York's fall-back night: still 6 h apart.
    const got = ticks(every(6, "hours"), "2026-11-01T00:00:00Z", 3, "America/New_York");
    assert.deepEqual(got, ["2026-11-01T06:00:00.000Z", "2026-11-01T12:00:00.000Z", "2026-11-01T18:00:00.000Z"]);
  });

  test("rejects a non-positive period and unknown units", () => {
    assert.throws(() => every(0, "seconds"), ConfigurationError);
    assert.throws(() => every(-1), ConfigurationError);
    assert.throws(() => every(1, "fortnights" as never), ConfigurationError);
  });
});

describe("crontab({...}) and cron strings", () => {
  test("steps: */5 minutes", () => {
    assert.deepEqual(ticks(cron("*/5 * * * *"), "2026-01-01T00:03:00Z", 3), [
      "2026-01-01T00:05:00.000Z",
      "2026-01-01T00:10:00.000Z",
      "2026-01-01T00:15:00.000Z",
    ]);
    // Exactly on a tick: the next one, not the same.
    assert.equal(iso(cron("*/5 * * * *").next(at("2026-01-01T00:05:00Z"), "UTC")), "2026-01-01T00:10:00.000Z");
  });

  test("ranges with steps, weekday names: */15 9-17 mon-fri", () => {
    const s = crontab({ minute: "*/15", hour: "9-17", dayOfWeek: "mon-fri" });
    // Friday 2026-11-27 17:30 → 17:45, then Monday 09:00.
    assert.deepEqual(ticks(s, "2026-11-27T17:30:00Z", 3), ["2026-11-27T17:45:00.000Z", "2026-11-30T09:00:00.000Z", "2026-11-30T09:15:00.000Z"]);
  });

  test("range with a step: minute 10-40/10", () => {
    assert.deepEqual(ticks(crontab({ minute: "10-40/10", hour: 3 }), "2026-01-01T00:00:00Z", 5), [
      "2026-01-01T03:10:00.000Z",
      "2026-01-01T03:20:00.000Z",
      "2026-01-01T03:30:00.000Z",
      "2026-01-01T03:40:00.000Z",
      "2026-01-02T03:10:00.000Z",
    ]);
  });

  test("lists as arrays, months", () => {
    const s = crontab({ minute: 0, hour: [0, 12], dayOfMonth: 1, monthOfYear: "jan,jul" });
    assert.deepEqual(ticks(s, "2026-01-01T06:00:00Z", 3), ["2026-01-01T12:00:00.000Z", "2026-07-01T00:00:00.000Z", "2026-07-01T12:00:00.000Z"]);
  });

  test("crontab: day of month AND day of week (Celery); a cron string: either (classic cron)", () => {
    assert.deepEqual(ticks(crontab({ minute: 0, hour: 0, dayOfMonth: 13, dayOfWeek: "fri" }), "2026-01-01T00:00:00Z", 2), [
      "2026-02-13T00:00:00.000Z",
      "2026-03-13T00:00:00.000Z",
    ]);
    assert.deepEqual(ticks(cron("0 0 13 * fri"), "2026-01-01T00:00:00Z", 3), [
      "2026-01-02T00:00:00.000Z",
      "2026-01-09T00:00:00.000Z",
      "2026-01-13T00:00:00.000Z",
    ]);
  });

  test("six fields: seconds", () => {
    assert.deepEqual(ticks(cron("*/20 * * * * *"), "2026-01-01T00:00:05Z", 3), [
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:40.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
  });

  test("a pattern that never matches has no next tick", () => {
    assert.equal(cron("0 0 30 2 *").next(at("2026-01-01T00:00:00Z"), "UTC"), null);
  });

  test("bad patterns and zones are ConfigurationErrors", () => {
    assert.throws(() => cron("61 * * * *"), ConfigurationError);
    assert.throws(() => cron("not a cron"), ConfigurationError);
    assert.throws(() => crontab({ minute: 0, timezone: "Mars/Olympus" }), ConfigurationError);
    assert.throws(() => cron("* * * * *").next(0, "Nowhere/Land"), ConfigurationError);
  });
});

describe("time zones", () => {
  test("09:00 in Asia/Shanghai is 01:00 UTC", () => {
    assert.deepEqual(ticks(crontab({ minute: 0, hour: 9 }), "2026-11-25T00:00:00Z", 2, "Asia/Shanghai"), [
      "2026-11-25T01:00:00.000Z",
      "2026-11-26T01:00:00.000Z",
    ]);
  });

  test("a schedule's own zone wins over the app's", () => {
    const s = crontab({ minute: 0, hour: 9, timezone: "Asia/Kolkata" });
    assert.equal(iso(s.next(at("2026-11-25T00:00:00Z"), "America/New_York")), "2026-11-25T03:30:00.000Z");
  });

  test("midnight in New York moves with DST: 05:00 UTC in winter, 04:00 UTC in summer", () => {
    const s = crontab({ minute: 0, hour: 0 });
    assert.equal(iso(s.next(at("2026-01-15T12:00:00Z"), "America/New_York")), "2026-01-16T05:00:00.000Z");
    assert.equal(iso(s.next(at("2026-07-15T12:00:00Z"), "America/New_York")), "2026-07-16T04:00:00.000Z");
  });
});

describe("DST changes", () => {
  const NY = "America/New_York";

  test("spring forward: a daily 02:30 job (a time that does not exist that night) runs once, at the jump (03:00 EDT)", () => {
    assert.deepEqual(ticks(crontab({ minute: 30, hour: 2 }), "2026-03-07T00:00:00Z", 3, NY), [
      "2026-03-07T07:30:00.000Z", // 02:30 EST
      "2026-03-08T07:00:00.000Z", // 03:00 EDT: the clock jumped from 02:00 to 03:00
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
    ]);
  });

  test("spring forward: every 20 minutes skips the missing hour, with no duplicate", () => {
    assert.deepEqual(ticks(cron("*/20 * * * *"), "2026-03-08T06:30:00Z", 4, NY), [
      "2026-03-08T06:40:00.000Z", // 01:40 EST
      "2026-03-08T07:00:00.000Z", // 03:00 EDT
      "2026-03-08T07:20:00.000Z",
      "2026-03-08T07:40:00.000Z",
    ]);
  });

  test("fall back: a daily 01:30 job (a time that happens twice) runs once, the first time", () => {
    assert.deepEqual(ticks(crontab({ minute: 30, hour: 1 }), "2026-10-31T00:00:00Z", 3, NY), [
      "2026-10-31T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T05:30:00.000Z", // 01:30 EDT, not again at 01:30 EST
      "2026-11-02T06:30:00.000Z", // 01:30 EST
    ]);
  });

  test("fall back: every 20 minutes keeps running through the repeated hour", () => {
    assert.deepEqual(ticks(cron("*/20 * * * *"), "2026-11-01T05:10:00Z", 8, NY), [
      "2026-11-01T05:20:00.000Z", // 01:20 EDT
      "2026-11-01T05:40:00.000Z",
      "2026-11-01T06:00:00.000Z", // 01:00 EST, the second 01:00
      "2026-11-01T06:20:00.000Z",
      "2026-11-01T06:40:00.000Z",
      "2026-11-01T07:00:00.000Z", // 02:00 EST
      "2026-11-01T07:20:00.000Z",
      "2026-11-01T07:40:00.000Z",
    ]);
  });

  test("fall back, starting inside the repeated hour", () => {
    assert.deepEqual(ticks(cron("*/20 * * * *"), "2026-11-01T06:10:00Z", 2, NY), ["2026-11-01T06:20:00.000Z", "2026-11-01T06:40:00.000Z"]);
    assert.deepEqual(ticks(crontab({ minute: 30, hour: 1 }), "2026-11-01T06:10:00Z", 1, NY), ["2026-11-02T06:30:00.000Z"]);
  });

  test("Europe/London: fall back at 02:00 BST; a 01:00 job runs at the first 01:00", () => {
    assert.deepEqual(ticks(crontab({ minute: 0, hour: 1 }), "2026-10-24T12:00:00Z", 2, "Europe/London"), [
      "2026-10-25T00:00:00.000Z", // 01:00 BST
      "2026-10-26T01:00:00.000Z", // 01:00 GMT
    ]);
  });

  test("Australia/Lord_Howe: a half-hour DST shift", () => {
    // 2026-10-04 02:00 → 02:30 local (+10:30 → +11): a 02:15 job runs at the jump.
    assert.deepEqual(ticks(crontab({ minute: 15, hour: 2 }), "2026-10-03T00:00:00Z", 2, "Australia/Lord_Howe"), [
      "2026-10-03T15:30:00.000Z", // the jump: 02:00 +10:30 became 02:30 +11
      "2026-10-04T15:15:00.000Z", // 02:15 +11
    ]);
  });
});

describe("toSchedule", () => {
  test("accepts seconds, cron strings, 'every' strings and stored specs, and round-trips specs", () => {
    assert.equal(toSchedule(30).toString(), "every 30s");
    assert.equal(toSchedule("every 5 minutes").toString(), "every 300s");
    assert.equal(toSchedule("every 0.2s").toString(), "every 0.2s");
    assert.equal(toSchedule("*/5 * * * *").toString(), 'cron "*/5 * * * *"');
    for (const s of [every(45, "seconds"), crontab({ minute: "*/15", hour: "9-17", dayOfWeek: "mon-fri", timezone: "Asia/Shanghai" }), cron("0 9 * * *")]) {
      const back = toSchedule(JSON.parse(JSON.stringify(s.toSpec())));
      assert.deepEqual(back.toSpec(), s.toSpec());
      assert.equal(back.next(at("2026-11-25T00:00:00Z"), "UTC"), s.next(at("2026-11-25T00:00:00Z"), "UTC"));
    }
    assert.throws(() => toSchedule({ nope: 1 }), ConfigurationError);
    assert.throws(() => toSchedule(-5), ConfigurationError);
  });
});

describe("beat entries", () => {
  test("a Celery-shaped entry (seconds, snake_case routing_key) is accepted", () => {
    const e = toBeatEntry("add-every-30s", { task: "tasks.add", schedule: 30.0, args: [16, 16], options: { queue: "q", routing_key: "rk" } }, "settings");
    assert.equal(e.schedule.toString(), "every 30s");
    assert.deepEqual(e.args, [16, 16]);
    assert.deepEqual(e.kwargs, {});
    assert.deepEqual(e.options, { queue: "q", routingKey: "rk" });
  });

  test("bad entries name themselves in the error", () => {
    assert.throws(() => toBeatEntry("e1", { schedule: 5 }, "settings"), /beat entry "e1" needs a task name/);
    assert.throws(() => toBeatEntry("e2", { task: "t" }, "settings"), /beat entry "e2" needs a schedule/);
    assert.throws(() => toBeatEntry("e3", { task: "t", schedule: 5, args: { a: 1 } }, "settings"), /e3.*args must be an array/);
    assert.throws(() => toBeatEntry("e4", { task: "t", schedule: 5, kwargs: [1] }, "settings"), /e4.*kwargs must be an object/);
    assert.throws(() => toBeatEntry("e5", { task: "t", schedule: "*/61 * * * *" }, "settings"), ConfigurationError);
  });
});
