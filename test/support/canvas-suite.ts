// The canvas behaviour suite: every primitive and nested form, run against a
// broker + result backend pair with an in-process worker.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac, ChordError, GroupResult, Worker, chain, chord, chunks, group, type AsyncResult } from "../../src/index.js";
import { defineCanvasTasks } from "../fixtures/canvas-app.js";
import { waitUntil } from "./wait.js";

export interface CanvasSuiteOptions {
  broker: string;
  backend: string;
  /** Extra app settings (e.g. a queue of its own on a shared server). */
  settings?: Record<string, unknown>;
}

const T = { timeout: 15_000 };

export function canvasSuite(name: string, urls: () => CanvasSuiteOptions, opts: { skip?: boolean } = {}): void {
  describe(`canvas on ${name}`, { skip: opts.skip }, () => {
    let app: Celeriac;
    let t: ReturnType<typeof defineCanvasTasks>;
    let worker: Worker;

    before(async () => {
      const { broker, backend, settings } = urls();
      app = new Celeriac({ name: `canvas-${name}`, broker, backend, ...settings });
      t = defineCanvasTasks(app);
      worker = new Worker(app, { pool: "async", concurrency: 8 });
      await worker.start();
    });
    after(async () => {
      await worker.stop();
      await app.close();
    });

    it("signature helpers: s, si, signature, set, clone, delay", async () => {
      const partial = t.add.s(2);
      assert.equal(await partial.delay(4).get(T), 6);
      assert.deepEqual(partial.args, [2], "delay does not change the signature");
      const imm = t.add.si(1, 1);
      assert.equal(imm.immutable, true);
      assert.equal(await imm.delay(100).get(T), 2, "an immutable signature ignores partial args");
      const queue = app.settings.taskDefaultQueue;
      const sig = t.add.signature([3, 4], { options: { countdown: 0.1, queue } });
      assert.equal(sig.options.countdown, 0.1);
      assert.equal(sig.options.queue, queue);
      const copy = sig.clone();
      copy.set({ priority: 3 });
      assert.equal(sig.options.priority, undefined, "a clone's options are its own");
      assert.equal(await copy.applyAsync().get(T), 7);
      assert.equal(
        await t.add
          .s()
          .clone({ args: [5, 6] })
          .delay()
          .get(T),
        11,
        "clone prepends partial args",
      );
    });

    it("chain: results flow, parent links lead back, ids known up front", async () => {
      const c = chain(t.add.s(1, 2), t.add.s(3), t.mul.s(10));
      const res = c.applyAsync();
      assert.equal(await res.get(T), 60);
      const p1 = res.parent as AsyncResult;
      const p0 = p1.parent as AsyncResult;
      assert.ok(p1 && p0 && p0.parent === null);
      assert.equal(await p1.get(T), 6);
      assert.equal(await p0.get(T), 3);
      assert.equal(p1.info?.parent_id, p0.id, "each step's parent is the step before");
    });

    it("chain with partial args and an immutable step", async () => {
      const res = chain(t.add.s(1), t.add.si(100, 1), t.double.s()).applyAsync([9]);
      assert.equal(await res.get(T), 202);
      assert.equal(await (res.parent!.parent as AsyncResult).get(T), 10);
    });

    it("a failing step fails the rest of the chain and calls the errback with its id", async () => {
      const ebId = randomUUID();
      const res = chain(t.add.s(1, 1), t.fail.s(), t.add.s(1)).applyAsync([], { linkError: t.onError.s().set({ taskId: ebId }) });
      await assert.rejects(res.get(T), (err: Error) => err.name === "RangeError");
      const failedId = (res.parent as AsyncResult).id;
      const eb = await app.AsyncResult<{ failed: string }>(ebId).get(T);
      assert.equal(eb.failed, failedId);
    });

    it("linkError on a chain object reaches the step that fails", async () => {
      const ebId = randomUUID();
      const c = chain(t.identity.s(1), t.fail.s(), t.double.s());
      c.linkError(t.onError.s().set({ taskId: ebId }));
      const res = c.applyAsync();
      await assert.rejects(res.get(T));
      assert.deepEqual(await app.AsyncResult(ebId).get(T), { failed: (res.parent as AsyncResult).id });
    });

    it("link and linkError on applyAsync", async () => {
      const cbId = randomUUID();
      const r = t.add.applyAsync([2, 2], { link: t.double.s().set({ taskId: cbId }) });
      assert.equal(await r.get(T), 4);
      assert.equal(await app.AsyncResult(cbId).get(T), 8);
      const ebId = randomUUID();
      const f = t.fail.applyAsync(["boom"], { linkError: t.onError.s().set({ taskId: ebId }) });
      await assert.rejects(f.get(T));
      assert.deepEqual(await app.AsyncResult(ebId).get(T), { failed: f.id });
    });

    it("a new-style errback (request, error, traceback) is called in the worker", async () => {
      const f = t.fail.applyAsync(["new style"], { linkError: t.onErrorNewStyle.s() });
      await assert.rejects(f.get(T));
      await waitUntil(`the errback of ${f.id} to run`, () => t.errbackCalls.some((c) => c.request.id === f.id), 10_000, 20);
      const call = t.errbackCalls.find((c) => c.request.id === f.id);
      assert.ok(call, "the errback ran");
      assert.equal(call.request.task, "canvas.fail");
      assert.equal(call.error.name, "RangeError");
      assert.equal(call.error.message, "new style");
    });

    it("group: results in order, counts, save and restore", async () => {
      const g = group(Array.from({ length: 10 }, (_, i) => t.add.s(i, i)));
      const res = g.applyAsync();
      assert.ok(res instanceof GroupResult);
      assert.deepEqual(await res.get(T), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
      assert.equal(await res.completedCount(), 10);
      assert.equal(await res.ready(), true);
      assert.equal(await res.successful(), true);
      for (const [i, r] of res.results.entries()) {
        const info = (r as AsyncResult).info;
        assert.equal(info?.group_id, res.id, "members carry the group id");
        assert.equal(typeof i, "number");
      }
      await res.save();
      const back = await GroupResult.restore(app, res.id);
      assert.deepEqual(
        back?.results.map((r) => r.id),
        res.results.map((r) => r.id),
      );
      assert.deepEqual(await back!.get(T), await res.get(T));
      await res.delete();
      assert.equal(await GroupResult.restore(app, res.id), null);
    });

    it("group skew spreads countdowns", async () => {
      const g = group(t.add.s(1, 1), t.add.s(2, 2), t.add.s(3, 3)).skew(0, null, 0.2);
      assert.deepEqual(
        g.tasks.map((m) => m.options.countdown),
        [0, 0.2, 0.4],
      );
      assert.deepEqual(await g.applyAsync().get(T), [2, 4, 6]);
    });

    it("group with a failing member: get throws, successful is false, propagate:false gives the error", async () => {
      const res = group(t.add.s(1, 1), t.fail.s("nope"), t.add.s(2, 2)).applyAsync();
      await assert.rejects(res.get(T), /nope/);
      assert.equal(await res.successful(), false);
      assert.equal(await res.failed(), true);
      assert.equal(await res.completedCount(), 2);
      const values: unknown[] = await res.get({ ...T, propagate: false });
      assert.equal(values[0], 2);
      assert.ok(values[1] instanceof Error);
    });

    it("group revoke: members not yet run end REVOKED; a revoked header task fails its chord", async (ctx) => {
      if (!(await app.broker()).publishFanout) {
        // Revoke is a remote-control broadcast; a broker without fanout cannot carry it (yet).
        ctx.skip("the broker has no broadcast (fanout)");
        return;
      }
      const res = group(t.add.s(1, 1).set({ countdown: 1.5 }), t.add.s(2, 2).set({ countdown: 1.5 })).applyAsync();
      await res.sent;
      await res.revoke();
      const values: unknown[] = await res.get({ ...T, propagate: false });
      assert.ok(
        values.every((v) => v instanceof Error && v.name === "TaskRevokedError"),
        `revoked: ${String(values)}`,
      );
      assert.equal(await res.successful(), false);
      const late = t.identity.s(2).set({ countdown: 1.5 });
      const c = chord([t.identity.s(1), late], t.tsum.s()).applyAsync();
      await c.sent;
      await ((c.parent as GroupResult).results[1] as AsyncResult).revoke();
      await assert.rejects(c.get(T), (err: Error) => err instanceof ChordError && /TaskRevokedError/.test(err.message));
    });

    it("chord: the callback gets every result in header order", async () => {
      const res = chord(
        Array.from({ length: 20 }, (_, i) => t.identity.s(i)),
        t.tsum.s(),
      ).applyAsync();
      assert.equal(await res.get(T), 190);
      const header = res.parent as GroupResult;
      assert.ok(header instanceof GroupResult);
      assert.deepEqual(
        await header.get(T),
        Array.from({ length: 20 }, (_, i) => i),
      );
      const ordered = chord([t.identity.s("a"), t.identity.s("b"), t.identity.s("c")], t.identity.s()).applyAsync();
      assert.deepEqual(await ordered.get(T), ["a", "b", "c"]);
    });

    it("a failing header task fails the chord with a ChordError and runs the callback's errback", async () => {
      const ebId = randomUUID();
      const c = chord([t.identity.s(1), t.fail.s("header broke"), t.identity.s(3)], t.tsum.s());
      c.linkError(t.onError.s().set({ taskId: ebId }));
      const res = c.applyAsync();
      await assert.rejects(res.get(T), (err: Error) => err instanceof ChordError && /Dependency .* raised RangeError\('header broke'\)/.test(err.message));
      assert.deepEqual(await app.AsyncResult(ebId).get(T), { failed: res.id });
    });

    it("an expired header task (REVOKED) fails the chord too", async () => {
      const late = t.identity.s(2).set({ expires: new Date(Date.now() - 60_000) });
      const res = chord([t.identity.s(1), late], t.tsum.s()).applyAsync();
      await assert.rejects(res.get(T), (err: Error) => err instanceof ChordError && /TaskRevokedError/.test(err.message));
    });

    it("an empty chord calls back at once with no results", async () => {
      assert.equal(await chord([], t.tsum.s()).applyAsync().get(T), 0);
    });

    it("map, starmap and chunks", async () => {
      assert.deepEqual(await t.double.map([1, 2, 3]).applyAsync().get(T), [2, 4, 6]);
      assert.deepEqual(
        await t.add
          .starmap([
            [1, 2],
            [3, 4],
          ])
          .delay()
          .get(T),
        [3, 7],
      );
      const items = Array.from({ length: 10 }, (_, i) => [i, i]);
      const res = chunks(t.add.s(), items, 3).applyAsync();
      assert.equal(res.results.length, 4);
      assert.deepEqual(await res.get(T), [[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]);
      assert.deepEqual(
        await t.add
          .chunks(
            [
              [1, 1],
              [2, 2],
            ],
            1,
          )
          .applyAsync()
          .get(T),
        [[2], [4]],
      );
    });

    it("nested: a chain inside a group", async () => {
      const res = group(chain(t.add.s(1, 1), t.double.s()), t.add.s(10, 10), chain(t.identity.s(5), t.add.s(5), t.double.s())).applyAsync();
      assert.deepEqual(await res.get(T), [4, 20, 20]);
    });

    it("nested: a group inside a chain becomes a chord", async () => {
      const c = chain(t.add.s(1, 1), group(t.double.s(), t.add.s(10)), t.tsum.s(), t.double.s());
      const res = c.applyAsync();
      assert.equal(await res.get(T), 2 * (4 + 12));
      const sumRes = res.parent as AsyncResult;
      assert.equal(await sumRes.get(T), 16);
      const header = sumRes.parent as GroupResult;
      assert.ok(header instanceof GroupResult, "the callback's parent is the header group");
      assert.deepEqual(await header.get(T), [4, 12]);
      assert.equal(await (header.parent as AsyncResult).get(T), 2);
    });

    it("nested: a group at the end of a chain gets the previous result", async () => {
      const res = chain(t.add.s(2, 3), group(t.double.s(), t.add.s(1))).applyAsync() as unknown as GroupResult;
      assert.ok(res instanceof GroupResult);
      assert.deepEqual(await res.get(T), [10, 6]);
    });

    it("nested: a chord whose callback is a chain", async () => {
      const res = chord([t.add.s(1, 1), t.add.s(2, 2)], chain(t.tsum.s(), t.double.s(), t.add.s(1))).applyAsync();
      assert.equal(await res.get(T), 13);
      assert.equal(await (res.parent as AsyncResult).get(T), 12);
    });

    it("nested: a chord inside a chain, continued after the callback", async () => {
      const c = chain(t.identity.s(3), chord([t.double.s(), t.add.s(1)], t.tsum.s()), t.double.s());
      assert.equal(await c.applyAsync().get(T), 2 * (6 + 4));
    });

    it("nested: a chord inside a group", async () => {
      const res = group(chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s()), t.add.s(5, 5)).applyAsync();
      assert.deepEqual(await res.get(T), [6, 10]);
    });

    it("nested: chains in a chord header", async () => {
      const res = chord([chain(t.add.s(1, 1), t.double.s()), chain(t.add.s(2, 2), t.double.s())], t.tsum.s()).applyAsync();
      assert.equal(await res.get(T), 12);
    });
  });
}
