// The ResultBackend conformance suite, run against every implementation.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import type { BackendOptions, ResultBackend, ResultMeta } from "../../src/backends/backend.js";
import { EncodeError, TimeoutError } from "../../src/errors.js";
import type { ResultTuple } from "../../src/result.js";

export interface BackendSuiteOptions {
  /** Makes a backend; two calls must share the same store. */
  make: (opts?: BackendOptions) => Promise<ResultBackend>;
}

const meta = (id: string, status = "SUCCESS", result: unknown = 42): ResultMeta => ({
  task_id: id,
  status,
  result,
  traceback: null,
  children: [],
  date_done: new Date().toISOString().replace("Z", ""),
});

export function backendConformance(name: string, { make }: BackendSuiteOptions): void {
  describe(`ResultBackend conformance: ${name}`, () => {
    const open: ResultBackend[] = [];
    const backend = async (opts?: BackendOptions) => {
      const b = await make(opts);
      await b.connect();
      open.push(b);
      return b;
    };
    after(async () => {
      for (const b of open) await b.close();
    });

    it("returns null for an unknown task", async () => {
      const b = await backend();
      assert.equal(await b.get(randomUUID()), null);
    });

    it("stores and reads Celery's meta, unicode and nested values intact", async () => {
      const b = await backend();
      const other = await backend();
      const id = randomUUID();
      const value = { text: "héllo ✓ 你好", list: [1, 2.5, null, true], nested: { a: { b: [] } } };
      await b.store(meta(id, "SUCCESS", value));
      const got = await other.get(id);
      assert.equal(got?.status, "SUCCESS");
      assert.deepEqual(got?.result, value);
      assert.equal(got?.task_id, id);
    });

    it("a value that cannot be encoded (BigInt, circular) fails its own store with EncodeError; stores beside it are kept", async () => {
      const b = await backend();
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const [good, big, loop] = [randomUUID(), randomUUID(), randomUUID()];
      // Started together: on a batching backend they would share one write.
      const stores = await Promise.allSettled([
        b.store(meta(big, "SUCCESS", 10n)),
        b.store(meta(good, "SUCCESS", 7)),
        b.store(meta(loop, "SUCCESS", circular)),
      ]);
      assert.equal(stores[1].status, "fulfilled");
      for (const s of [stores[0], stores[2]]) {
        assert.equal(s.status, "rejected");
        assert.ok((s as PromiseRejectedResult).reason instanceof EncodeError, String((s as PromiseRejectedResult).reason));
      }
      assert.equal((await b.get(good))?.result, 7);
      assert.equal(await b.get(big), null);
    });

    it("the latest state wins", async () => {
      const b = await backend();
      const id = randomUUID();
      await b.store(meta(id, "STARTED", null));
      await b.store(meta(id, "SUCCESS", 1));
      assert.equal((await b.get(id))?.status, "SUCCESS");
    });

    it("waitFor resolves when another connection stores a ready state", async () => {
      const b = await backend();
      const other = await backend();
      const id = randomUUID();
      const waiting = b.waitFor(id, { timeoutMs: 5000 });
      await other.store(meta(id, "STARTED", null));
      setTimeout(() => void other.store(meta(id, "FAILURE", { exc_type: "ValueError", exc_message: ["x"], exc_module: "builtins" })), 100);
      const got = await waiting;
      assert.equal(got.status, "FAILURE");
    });

    it("waitFor many ids at once", async () => {
      const b = await backend();
      const other = await backend();
      const ids = Array.from({ length: 50 }, () => randomUUID());
      const waits = ids.map((id) => b.waitFor(id, { timeoutMs: 5000 }));
      for (const id of ids) await other.store(meta(id, "SUCCESS", id));
      const got = await Promise.all(waits);
      assert.deepEqual(
        got.map((m) => m.result),
        ids,
      );
    });

    it("waitFor rejects with TimeoutError", async () => {
      const b = await backend();
      await assert.rejects(b.waitFor(randomUUID(), { timeoutMs: 200 }), TimeoutError);
    });

    it("waitFor ends with the error of a failed send, and a later wait for the same id still resolves", async () => {
      const b = await backend();
      const other = await backend();
      const id = randomUUID();
      const reason = new Error("send failed");
      const failedSend = Promise.reject(reason);
      const given = b.waitFor(id, { sending: failedSend });
      const kept = b.waitFor(id, { timeoutMs: 5000 });
      await assert.rejects(given, (err) => err === reason);
      await other.store(meta(id, "SUCCESS", "after"));
      assert.equal((await kept).result, "after");
      const again = await b.waitFor(id, { timeoutMs: 5000, sending: Promise.resolve() });
      assert.equal(again.result, "after");
    });

    it("waitFor while sending still finds a result stored before it was called", async () => {
      // A caller may be wrong about the send; the backend must not lose the result for it.
      const b = await backend();
      const other = await backend();
      const id = randomUUID();
      await other.store(meta(id, "SUCCESS", "early"));
      assert.equal((await b.waitFor(id, { timeoutMs: 5000, sending: Promise.resolve() })).result, "early");
    });

    it("forget removes a result", async () => {
      const b = await backend();
      const id = randomUUID();
      await b.store(meta(id));
      await b.forget(id);
      assert.equal(await b.get(id), null);
    });

    it("results expire after resultExpires", async () => {
      const b = await backend({ resultExpires: 1 });
      const id = randomUUID();
      await b.store(meta(id));
      assert.ok(await b.get(id));
      await new Promise((r) => setTimeout(r, 1600));
      assert.equal(await b.get(id), null);
    });

    it("saves, restores and deletes groups", async () => {
      const b = await backend();
      const gid = randomUUID();
      // A chain ending in a group is a member that is a group itself (Celery's nested GroupResult tuple).
      const ids: ResultTuple[] = [
        [[randomUUID(), null], null],
        [
          [randomUUID(), [[randomUUID(), null], null]],
          [
            [[randomUUID(), null], null],
            [[randomUUID(), null], null],
          ],
        ],
      ];
      await b.saveGroup(gid, ids);
      assert.deepEqual(await (await backend()).restoreGroup(gid), ids);
      await b.deleteGroup(gid);
      assert.equal(await b.restoreGroup(gid), null);
    });

    it("chordJoin completes exactly once, with results in group order", async () => {
      const backends = [await backend(), await backend(), await backend()];
      const gid = randomUUID();
      const size = 30;
      const order = Array.from({ length: size }, (_, i) => i).sort(() => Math.random() - 0.5);
      const answers = await Promise.all(order.map((i) => backends[i % 3]!.chordJoin(gid, i, size, meta(randomUUID(), "SUCCESS", i))));
      const completions = answers.filter((a) => a !== null);
      assert.equal(completions.length, 1, "exactly one caller completes the chord");
      assert.deepEqual(
        completions[0]!.map((m) => m.result),
        Array.from({ length: size }, (_, i) => i),
      );
    });

    it("chordJoin: a part recorded again (a redelivered task) replaces its first record", async () => {
      const b = await backend();
      const gid = randomUUID();
      const [a, c] = [randomUUID(), randomUUID()];
      assert.equal(await b.chordJoin(gid, 0, 2, meta(a, "SUCCESS", "first run")), null);
      assert.equal(await b.chordJoin(gid, 0, 2, meta(a, "SUCCESS", "second run")), null, "one part twice does not complete a chord of two");
      const parts = await b.chordJoin(gid, 1, 2, meta(c, "SUCCESS", "other"));
      assert.deepEqual(
        parts?.map((m) => m.result),
        ["second run", "other"],
      );
      await b.chordDone(gid);
    });

    it("chordJoin: the completing part gets the results again until chordDone; other parts never", async () => {
      const [b1, b2] = [await backend(), await backend()];
      const gid = randomUUID();
      const [a, last] = [randomUUID(), randomUUID()];
      assert.equal(await b1.chordJoin(gid, 0, 2, meta(a, "SUCCESS", 1)), null);
      assert.deepEqual(
        (await b1.chordJoin(gid, 1, 2, meta(last, "SUCCESS", 2)))?.map((m) => m.result),
        [1, 2],
      );
      // Its worker died before sending the callback: the redelivered last part, run elsewhere, completes it again…
      assert.deepEqual(
        (await b2.chordJoin(gid, 1, 2, meta(last, "SUCCESS", 2)))?.map((m) => m.result),
        [1, 2],
      );
      // …but a redelivered earlier part does not send a second callback.
      assert.equal(await b2.chordJoin(gid, 0, 2, meta(a, "SUCCESS", 1)), null);
      await b2.chordDone(gid);
      // Sent: a part that comes back after that completes nothing.
      assert.equal(await b1.chordJoin(gid, 1, 2, meta(last, "SUCCESS", 2)), null);
      await b1.chordDone(gid);
    });

    it("addToChord: the chord waits for one more part per added task, which shares its adder's index", async () => {
      const [b1, b2] = [await backend(), await backend()];
      assert.ok(b1.addToChord, "the backend can grow a chord");
      const gid = randomUUID();
      const [adder, other, added1, added2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      // The adder (index 0) adds two tasks before it records its own part.
      await b1.addToChord!(gid);
      await b2.addToChord!(gid);
      assert.equal(await b1.chordJoin(gid, 0, 2, meta(adder, "SUCCESS", "adder")), null);
      assert.equal(await b2.chordJoin(gid, 1, 2, meta(other, "SUCCESS", "other")), null, "the chord's own size is not enough");
      assert.equal(await b1.chordJoin(gid, 0, 2, meta(added1, "SUCCESS", "added1")), null, "an added part does not replace its adder's");
      assert.equal(await b2.chordJoin(gid, 0, 2, meta(added1, "SUCCESS", "added1")), null, "an added part recorded again counts once");
      const parts = await b2.chordJoin(gid, 0, 2, meta(added2, "SUCCESS", "added2"));
      assert.ok(parts, "the last added part completes the chord");
      assert.deepEqual(parts.map((m) => m.result).sort(), ["added1", "added2", "adder", "other"]);
      assert.equal(parts.at(-1)!.result, "other", "in group order: the added parts sit at their adder's index");
      await b2.chordDone(gid);
      // Forgotten with the chord: a new chord under the id starts from its own size.
      assert.equal((await b1.chordJoin(gid, 0, 1, meta(adder, "SUCCESS", "again"))) !== null, true);
      await b1.chordDone(gid);
    });
  });
}
