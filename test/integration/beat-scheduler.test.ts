// The beat scheduler with a fake clock, on real SQLite files: each pass is run
// by hand (beat.tick()) at a chosen instant, and the sent messages are counted
// in the broker.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Celeriac, type CeleriacOptions } from "../../src/app.js";
import { Beat, type BeatOptions } from "../../src/beat/beat.js";
import { crontab } from "../../src/beat/crontab.js";
import { BeatEntries } from "../../src/beat/entries.js";
import type { BeatEntryInput } from "../../src/beat/entry.js";
import { every } from "../../src/beat/interval.js";
import { beatStoreUrl } from "../../src/beat/stores/index.js";
import { tickTaskId } from "../../src/beat/tick-id.js";
import { defaultSettings } from "../../src/config.js";
import { ConfigurationError } from "../../src/errors.js";

const dir = mkdtempSync(join(tmpdir(), "celeriac-beat-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const T0 = Date.parse("2026-01-01T00:00:10Z");
const at = (iso: string) => Date.parse(iso);

/** A fresh database file, and apps/beats on it that share a fake clock. */
function world(beatSchedule: Record<string, BeatEntryInput>, extra: CeleriacOptions = {}) {
  const url = `sqlite://${join(dir, `beat-${++files}.db`)}`;
  const clock = { now: T0 };
  const apps: Celeriac[] = [];
  const beats: Beat[] = [];
  const app = () => {
    const a = new Celeriac({ name: "proj", broker: url, backend: url, beatSchedule, ...extra });
    apps.push(a);
    return a;
  };
  const beat = (opts: BeatOptions = {}) => {
    const b = new Beat(app(), { leaseSeconds: 5, clock: () => clock.now, ...opts });
    beats.push(b);
    return b;
  };
  /** Every message sent so far on a queue (taken off it). */
  const taken: { entry: string; tick: string; id: string; args: unknown[]; priority: number | undefined; expires: unknown }[] = [];
  const drain = async (queue = "celery") => {
    const broker = await apps[0]!.broker();
    for (;;) {
      const got = await broker.fetch([queue], { max: 500, waitMs: 0, lease: false });
      if (!got.length) break;
      for (const d of got) {
        const h = d.message.headers;
        const body = JSON.parse(d.message.body.toString()) as [unknown[]];
        taken.push({
          entry: String(h.beat_entry),
          tick: String(h.beat_tick),
          id: String(h.id),
          args: body[0],
          priority: d.message.properties.priority as number | undefined,
          expires: h.expires,
        });
      }
    }
    return taken;
  };
  const close = async () => {
    for (const b of beats) await b.stop();
    for (const a of apps) await a.close();
  };
  return { url, clock, app, beat, drain, close };
}

describe("beat scheduler (fake clock, sqlite)", () => {
  test("sends each due tick once, with its entry header, args, options and a tick-derived task id", async (t) => {
    const w = world({
      "add-every-30s": { task: "proj.add", schedule: every(30, "seconds"), args: [16, 16], options: { queue: "beat-q", priority: 7, expires: 60 } },
    });
    t.after(w.close);
    const b = w.beat();
    await b.tick(); // 00:00:10: first sight, nothing owed yet
    assert.equal((await w.drain("beat-q")).length, 0);
    w.clock.now = at("2026-01-01T00:00:30Z");
    const sleep = await b.tick();
    await b.tick(); // the same instant again: nothing new
    w.clock.now = at("2026-01-01T00:00:59.999Z");
    await b.tick();
    w.clock.now = at("2026-01-01T00:01:00Z");
    await b.tick();
    const sent = await w.drain("beat-q");
    assert.deepEqual(
      sent.map((m) => m.tick),
      ["2026-01-01T00:00:30.000Z", "2026-01-01T00:01:00.000Z"],
    );
    assert.equal(sent[0]!.entry, "add-every-30s");
    assert.deepEqual(sent[0]!.args, [16, 16]);
    assert.equal(sent[0]!.priority, 7);
    // expires: 60 s after sending (real time: the message is built now)
    const expires = Date.parse(String(sent[0]!.expires));
    assert.ok(Math.abs(expires - (Date.now() + 60_000)) < 10_000, `expires ${String(sent[0]!.expires)}`);
    assert.equal(sent[0]!.id, tickTaskId("proj", "add-every-30s", at("2026-01-01T00:00:30Z")));
    // It sleeps until the lease needs renewing or the next tick, whichever is first.
    assert.ok(sleep > 0 && sleep <= 5000 / 3 + 1, `sleep ${sleep}`);
  });

  test("a crontab in the app's time zone: 09:00 Asia/Shanghai is sent at 01:00 UTC", async (t) => {
    const w = world({ morning: { task: "proj.report", schedule: crontab({ minute: 0, hour: 9 }) } }, { timezone: "Asia/Shanghai" });
    t.after(w.close);
    const b = w.beat();
    w.clock.now = at("2026-11-25T00:59:59Z");
    await b.tick();
    w.clock.now = at("2026-11-25T01:00:00Z");
    await b.tick();
    w.clock.now = at("2026-11-25T09:00:00Z"); // 17:00 local: nothing
    await b.tick();
    assert.deepEqual(
      (await w.drain()).map((m) => m.tick),
      ["2026-11-25T01:00:00.000Z"],
    );
  });

  test("across New York's fall-back night, a half-hourly crontab runs through both copies of 01:xx, a daily 01:30 once", async (t) => {
    const w = world(
      {
        half: { task: "proj.half", schedule: crontab({ minute: "0,30" }) },
        daily: { task: "proj.daily", schedule: crontab({ minute: 30, hour: 1 }) },
      },
      { timezone: "America/New_York" },
    );
    t.after(w.close);
    const b = w.beat();
    // 00:00 EDT (04:00Z) to 03:00 EST (08:00Z), a pass every 5 minutes.
    for (let now = at("2026-11-01T04:00:00Z"); now <= at("2026-11-01T08:00:00Z"); now += 5 * 60_000) {
      w.clock.now = now;
      await b.tick();
    }
    const sent = await w.drain();
    const of = (entry: string) => sent.filter((m) => m.entry === entry).map((m) => m.tick.slice(11, 16));
    // UTC: 00:30 EDT, 01:00 EDT, 01:30 EDT, 01:00 EST, 01:30 EST, 02:00 EST, 02:30 EST, 03:00 EST.
    assert.deepEqual(of("half"), ["04:30", "05:00", "05:30", "06:00", "06:30", "07:00", "07:30", "08:00"]);
    assert.deepEqual(of("daily"), ["05:30"]);
  });

  for (const [policy, expected] of [
    ["latest", ["2026-01-01T00:05:00.000Z"]],
    ["all", ["01:30", "02:00", "02:30", "03:00", "03:30", "04:00", "04:30", "05:00"].map((m) => `2026-01-01T00:${m}.000Z`)],
    ["none", []],
  ] as const) {
    test(`restart: ticks already sent are not sent again; ticks missed while down follow catch-up "${policy}"`, async (t) => {
      const w = world({ e: { task: "proj.add", schedule: every(30, "seconds") } }, { beatCatchUp: policy });
      t.after(w.close);
      const first = w.beat();
      await first.tick();
      w.clock.now = at("2026-01-01T00:00:30Z");
      await first.tick();
      w.clock.now = at("2026-01-01T00:01:00Z");
      await first.tick();
      await first.stop(); // gives the lease up
      assert.deepEqual(
        (await w.drain()).map((m) => m.tick),
        ["2026-01-01T00:00:30.000Z", "2026-01-01T00:01:00.000Z"],
      );

      // A new beat process (new app, new store connection) on the same file.
      const second = w.beat();
      await second.tick(); // still 00:01:00: the 00:01:00 tick is not sent again
      w.clock.now = at("2026-01-01T00:05:20Z"); // 8 ticks missed, the last 20 s ago (> 2 x lease)
      await second.tick();
      w.clock.now = at("2026-01-01T00:05:30Z"); // back on time
      await second.tick();
      const all = (await w.drain()).map((m) => m.tick);
      assert.deepEqual(all, ["2026-01-01T00:00:30.000Z", "2026-01-01T00:01:00.000Z", ...expected, "2026-01-01T00:05:30.000Z"]);
    });
  }

  test("two beats: one leads, the other stands by; over 60 ticks each is sent once", async (t) => {
    const w = world({ e: { task: "proj.add", schedule: every(2, "seconds") } });
    t.after(w.close);
    const [a, b] = [w.beat({ id: "A" }), w.beat({ id: "B" })];
    await a.tick();
    await b.tick();
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    for (let i = 1; i <= 60; i++) {
      w.clock.now = T0 + i * 2_000 + (i % 3) * 7; // on or just after each tick (00:00:12, 00:00:14…)
      // Both passes, in varying order, at the same instant.
      if (i % 2) await Promise.all([a.tick(), b.tick()]);
      else await Promise.all([b.tick(), a.tick()]);
    }
    const ticks = (await w.drain()).map((m) => m.tick);
    assert.equal(ticks.length, 60);
    assert.equal(new Set(ticks).size, 60);
    assert.equal(b.isLeader, false);
  });

  test("failover: when the leader stops renewing, the other takes over after the lease; the old one is fenced off", async (t) => {
    const w = world({ e: { task: "proj.add", schedule: every(1, "seconds") } });
    t.after(w.close);
    const [a, b] = [w.beat({ id: "A" }), w.beat({ id: "B" })];
    await a.tick();
    await b.tick();
    for (let s = 1; s <= 3; s++) {
      w.clock.now = T0 + s * 1000;
      await a.tick();
      await b.tick();
    }
    // A hangs (no more passes). B cannot lead until A's lease (5 s) runs out…
    for (let s = 4; s <= 7; s++) {
      w.clock.now = T0 + s * 1000;
      await b.tick();
      assert.equal(b.isLeader, false, `B leads too early at +${s}s`);
    }
    w.clock.now = T0 + 8_000; // A's last renewal was at +3 s: expired at +8 s
    await b.tick();
    assert.equal(b.isLeader, true);
    // …and A, waking up, is fenced: it neither leads nor sends.
    w.clock.now = T0 + 9_000;
    await a.tick();
    assert.equal(a.isLeader, false);
    await b.tick();
    const ticks = (await w.drain()).map((m) => m.tick);
    // Every second from +1 s (00:00:11) to +9 s sent once: the 4 s gap was caught up by B (on time: within 2 leases).
    assert.deepEqual(
      ticks,
      Array.from({ length: 9 }, (_, i) => new Date(at("2026-01-01T00:00:11Z") + i * 1000).toISOString()),
    );
  });

  test("dynamic entries: added, changed and removed at run time, picked up without restart", async (t) => {
    const w = world({});
    t.after(w.close);
    const b = w.beat();
    const api = new BeatEntries(w.app());
    t.after(() => api.close());
    await b.tick();
    await api.add("dyn", { task: "proj.dyn", schedule: "every 10s", args: [1] });
    assert.deepEqual(
      (await api.list()).map((e) => [e.name, e.source, e.schedule.toString()]),
      [["dyn", "store", "every 10s"]],
    );
    await b.tick(); // first sight at 00:00:10
    w.clock.now = at("2026-01-01T00:00:20Z");
    await b.tick();
    await api.add("dyn", { task: "proj.dyn", schedule: "*/1 * * * *", args: [2] }); // changed: now every minute
    w.clock.now = at("2026-01-01T00:00:30Z");
    await b.tick();
    w.clock.now = at("2026-01-01T00:01:00Z");
    await b.tick();
    assert.equal(await api.remove("dyn"), true);
    w.clock.now = at("2026-01-01T00:02:00Z");
    await b.tick();
    const sent = await w.drain();
    assert.deepEqual(
      sent.map((m) => [m.tick, m.args]),
      [
        ["2026-01-01T00:00:20.000Z", [1]],
        ["2026-01-01T00:01:00.000Z", [2]],
      ],
    );
    await assert.rejects(api.add("bad", { task: "proj.x", schedule: "not a cron" }), ConfigurationError);
  });

  test("a disabled entry (a settings one, overridden in the store) sends nothing until enabled again", async (t) => {
    const w = world({ e: { task: "proj.e", schedule: every(10, "seconds") } });
    t.after(w.close);
    const b = w.beat({ catchUp: "none" });
    const api = new BeatEntries(w.app());
    t.after(() => api.close());
    await b.tick(); // first sight at 00:00:10
    const off = await api.setEnabled("e", false);
    assert.equal(off?.enabled, false);
    assert.deepEqual(
      (await api.list()).map((e) => [e.name, e.source, e.enabled]),
      [["e", "store", false]],
    );
    w.clock.now = at("2026-01-01T00:00:20Z");
    await b.tick();
    w.clock.now = at("2026-01-01T00:00:30Z");
    await b.tick();
    assert.equal((await w.drain()).length, 0, "nothing sent while disabled");
    await api.setEnabled("e", true);
    w.clock.now = at("2026-01-01T00:00:40Z");
    await b.tick();
    assert.deepEqual(
      (await w.drain()).map((m) => m.tick),
      ["2026-01-01T00:00:40.000Z"],
    );
    assert.equal(await api.setEnabled("missing", false), null);
  });

  test("a stored entry replaces a settings entry of the same name", async (t) => {
    const w = world({ e: { task: "proj.old", schedule: every(10, "seconds") } });
    t.after(w.close);
    const api = new BeatEntries(w.app());
    t.after(() => api.close());
    await api.add("e", { task: "proj.new", schedule: every(10, "seconds") });
    const list = await api.list();
    assert.deepEqual(
      list.map((e) => [e.name, e.task, e.source]),
      [["e", "proj.new", "store"]],
    );
  });

  test("a tick whose send fails (broker unreachable) is put back and sent by a later pass", async (t) => {
    const brokerDir = join(dir, `later-${++files}`);
    const brokerUrl = `sqlite://${join(brokerDir, "broker.db")}`; // the directory does not exist yet
    const clock = { now: T0 };
    const app = new Celeriac({
      name: "proj",
      broker: brokerUrl,
      backend: "memory://",
      beatStoreUrl: `sqlite://${join(dir, `store-${files}.db`)}`,
      beatSchedule: { e: { task: "proj.add", schedule: every(30, "seconds") } },
    });
    const b = new Beat(app, { leaseSeconds: 5, clock: () => clock.now });
    const errors: number[] = [];
    b.on("sendError", (_err, _name, tick: number) => errors.push(tick));
    t.after(async () => {
      await b.stop();
      await app.close();
    });
    await b.tick();
    clock.now = at("2026-01-01T00:00:30Z");
    const wait = await b.tick();
    assert.deepEqual(errors, [at("2026-01-01T00:00:30Z")]);
    assert.ok(wait <= 1000, `retries within a second, not ${wait} ms`);
    assert.equal((await b.connect().then((s) => s.lastTicks())).get("e"), T0, "the claim was undone");
    mkdirSync(brokerDir);
    clock.now = at("2026-01-01T00:00:31Z");
    await b.tick();
    const broker = await app.broker();
    const got = await broker.fetch(["celery"], { max: 10, waitMs: 0, lease: false });
    assert.deepEqual(
      got.map((d) => d.message.headers.beat_tick),
      ["2026-01-01T00:00:30.000Z"],
    );
  });

  test("bad settings fail at construction", () => {
    const app = new Celeriac({ name: "bad", broker: "memory://", backend: "memory://", beatSchedule: { x: { task: "t", schedule: "61 * * * *" } } });
    assert.throws(() => new Beat(app), /beat entry "x"/);
    const app2 = new Celeriac({ name: "bad2", broker: "memory://", backend: "memory://", timezone: "Mars/Olympus" });
    assert.throws(() => new Beat(app2), ConfigurationError);
    assert.throws(() => new Beat(app2, { catchUp: "some" as never }), ConfigurationError);
  });

  test("the store URL: beatStoreUrl, else the broker's (sqlite, redis), else the result backend's, else an error", () => {
    const s = defaultSettings();
    assert.equal(beatStoreUrl({ ...s, brokerUrl: "sqlite://./x.db" }), "sqlite://./x.db");
    assert.equal(beatStoreUrl({ ...s, brokerUrl: "redis://:pw@h:6379/1" }), "redis://:pw@h:6379/1");
    assert.equal(beatStoreUrl({ ...s, brokerUrl: "amqp://h", resultBackend: "redis://h/2" }), "redis://h/2");
    assert.equal(beatStoreUrl({ ...s, brokerUrl: "amqp://h", resultBackend: "rpc://", beatStoreUrl: "sqlite:///var/beat.db" }), "sqlite:///var/beat.db");
    assert.throws(
      () => beatStoreUrl({ ...s, brokerUrl: "amqp://u:secret@h", resultBackend: "rpc://" }),
      (err: Error) => {
        assert.ok(err instanceof ConfigurationError);
        assert.doesNotMatch(err.message, /secret/);
        return true;
      },
    );
  });
});
