// The BeatStore conformance suite: every BeatStore implementation runs these
// same tests (test/integration/beat-store-<name>.test.ts calls it).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import type { StoredBeatEntry } from "../../src/beat/entry.js";
import type { BeatStore } from "../../src/beat/store.js";

export interface BeatStoreSuiteOptions {
  /** A new store for a namespace; two calls with one namespace must share state. */
  make: (namespace: string) => Promise<BeatStore>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const entry = (name: string, every = 30): StoredBeatEntry => ({
  name,
  task: "proj.add",
  schedule: { every },
  args: [16, 16],
  kwargs: {},
  options: { queue: "celery" },
});

export function beatStoreConformance(name: string, { make }: BeatStoreSuiteOptions): void {
  describe(`BeatStore conformance: ${name}`, () => {
    const open: BeatStore[] = [];
    const store = async (ns: string) => {
      const s = await make(ns);
      await s.connect();
      open.push(s);
      return s;
    };
    after(async () => {
      for (const s of open) await s.close();
    });
    const ns = () => `conf-${randomUUID().slice(0, 8)}`;

    it("one holder at a time; the holder renews with the same token", async () => {
      const n = ns();
      const [a, b] = [await store(n), await store(n)];
      const t1 = await a.acquireLease("A", 5000, Date.now());
      assert.equal(typeof t1, "number");
      assert.equal(await b.acquireLease("B", 5000, Date.now()), null);
      assert.equal(await a.acquireLease("A", 5000, Date.now()), t1);
      const info = await b.lease(Date.now());
      assert.equal(info?.holder, "A");
      assert.equal(info?.token, t1);
      assert.ok(info!.expiresAt > Date.now());
    });

    it("an expired lease goes to the next holder with a bigger token, and the old token is fenced", async () => {
      const n = ns();
      const [a, b] = [await store(n), await store(n)];
      const t1 = (await a.acquireLease("A", 300, Date.now()))!;
      assert.equal(await a.claimTick("e", 1000, t1, Date.now()), "claimed");
      await sleep(450);
      const t2 = await b.acquireLease("B", 5000, Date.now());
      assert.ok(t2 !== null && t2 > t1, `token ${t2} after ${t1}`);
      assert.equal(await a.claimTick("e", 2000, t1, Date.now()), "fenced");
      assert.equal(await b.claimTick("e", 2000, t2, Date.now()), "claimed");
      // A comes back: it is not the holder any more.
      assert.equal(await a.acquireLease("A", 5000, Date.now()), null);
    });

    it("a released lease is free at once, and the token still grows", async () => {
      const n = ns();
      const [a, b] = [await store(n), await store(n)];
      const t1 = (await a.acquireLease("A", 60_000, Date.now()))!;
      await b.releaseLease("B", t1); // not B's: no effect
      assert.equal(await b.acquireLease("B", 60_000, Date.now()), null);
      await a.releaseLease("A", t1);
      assert.equal(await a.lease(Date.now()), null);
      const t2 = await b.acquireLease("B", 60_000, Date.now());
      assert.ok(t2 !== null && t2 > t1);
      assert.equal(await a.claimTick("e", 1, t1, Date.now()), "fenced");
    });

    it("a tick is claimed once; earlier ticks are done; lastTicks shows the last", async () => {
      const n = ns();
      const s = await store(n);
      const t = (await s.acquireLease("A", 60_000, Date.now()))!;
      assert.equal(await s.claimTick("e1", 1000, t, Date.now()), "claimed");
      assert.equal(await s.claimTick("e1", 1000, t, Date.now()), "done");
      assert.equal(await s.claimTick("e1", 500, t, Date.now()), "done");
      assert.equal(await s.claimTick("e1", 2000, t, Date.now()), "claimed");
      assert.equal(await s.claimTick("e2", 7, t, Date.now()), "claimed");
      assert.deepEqual([...(await s.lastTicks())].sort(), [
        ["e1", 2000],
        ["e2", 7],
      ]);
    });

    it("a claim can be undone (failed send) under the same token, once, while the tick is still the last", async () => {
      const n = ns();
      const [a, b] = [await store(n), await store(n)];
      const t = (await a.acquireLease("A", 300, Date.now()))!;
      await a.claimTick("e", 1000, t, Date.now());
      await a.claimTick("e", 2000, t, Date.now());
      assert.equal(await a.unclaimTick("e", 2000, 1000, t, Date.now()), true);
      assert.equal((await b.lastTicks()).get("e"), 1000);
      assert.equal(await a.unclaimTick("e", 2000, 1000, t, Date.now()), false);
      assert.equal(await a.claimTick("e", 2000, t, Date.now()), "claimed");
      await sleep(450);
      const t2 = (await b.acquireLease("B", 5000, Date.now()))!;
      assert.equal(await a.unclaimTick("e", 2000, 1000, t, Date.now()), false, "fenced");
      assert.equal((await b.lastTicks()).get("e"), 2000);
      assert.equal(await b.unclaimTick("e", 2000, 1000, t2, Date.now()), true);
    });

    it("of many concurrent claims of one tick, exactly one wins", async () => {
      const n = ns();
      const stores = await Promise.all([1, 2, 3, 4].map(() => store(n)));
      const t = (await stores[0]!.acquireLease("A", 60_000, Date.now()))!;
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => stores[i % stores.length]!.claimTick("e", 5000 + Math.floor(i / 8), t, Date.now())),
      );
      // Ticks 5000..5004, 8 claims each, from 4 connections: each tick at most once, and the last one surely.
      const claimed = results.filter((r) => r === "claimed").length;
      assert.ok(claimed >= 1 && claimed <= 5, `claimed ${claimed}`);
      assert.equal((await stores[1]!.lastTicks()).get("e"), 5004);
      const again = await Promise.all(stores.map((s) => s.claimTick("e", 6000, t, Date.now())));
      assert.equal(again.filter((r) => r === "claimed").length, 1);
    });

    it("entries: put, replace, list, remove (with their tick state)", async () => {
      const n = ns();
      const [a, b] = [await store(n), await store(n)];
      await a.putEntry(entry("b-entry"));
      await a.putEntry(entry("a-entry", 10));
      await a.putEntry(entry("a-entry", 20));
      const listed = await b.listEntries();
      assert.deepEqual(
        listed.map((e) => [e.name, e.schedule]),
        [
          ["a-entry", { every: 20 }],
          ["b-entry", { every: 30 }],
        ],
      );
      assert.deepEqual(listed[1], entry("b-entry"));
      const t = (await a.acquireLease("A", 60_000, Date.now()))!;
      await a.claimTick("a-entry", 100, t, Date.now());
      assert.equal(await b.removeEntry("a-entry"), true);
      assert.equal(await b.removeEntry("a-entry"), false);
      assert.deepEqual(
        (await a.listEntries()).map((e) => e.name),
        ["b-entry"],
      );
      assert.equal((await a.lastTicks()).has("a-entry"), false);
      // No stored entry of that name (e.g. one from the settings): its tick state stays.
      await a.claimTick("settings-entry", 100, t, Date.now());
      assert.equal(await b.removeEntry("settings-entry"), false);
      assert.equal((await a.lastTicks()).get("settings-entry"), 100);
    });

    it("namespaces are apart", async () => {
      const [a, b] = [await store(ns()), await store(ns())];
      assert.notEqual(await a.acquireLease("A", 60_000, Date.now()), null);
      assert.notEqual(await b.acquireLease("B", 60_000, Date.now()), null);
      await a.putEntry(entry("only-a"));
      assert.deepEqual(await b.listEntries(), []);
    });
  });
}
