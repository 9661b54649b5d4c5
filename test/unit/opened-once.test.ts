// OpenedOnce, the one cached promise forgotten if it fails: concurrent callers
// share an attempt, a failure is retried by the next call, forget(instance)
// drops only that instance, close() ends what opened.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OpenedOnce } from "../../src/util/opened-once.js";

interface Conn {
  n: number;
  ended: boolean;
}

function counting(failFirst = 0) {
  let opens = 0;
  const once = new OpenedOnce<Conn>(
    async () => {
      opens++;
      if (opens <= failFirst) throw new Error(`open ${opens} failed`);
      return { n: opens, ended: false };
    },
    (c) => (c.ended = true),
  );
  return { once, opens: () => opens };
}

describe("OpenedOnce", () => {
  it("shares one attempt between concurrent callers and keeps the instance", async () => {
    const { once, opens } = counting();
    assert.equal(once.started, null);
    const [a, b] = await Promise.all([once.get(), once.get()]);
    assert.equal(a, b);
    assert.equal(once.current, a);
    assert.equal(await once.get(), a);
    assert.equal(opens(), 1);
  });

  it("forgets a failed attempt: the callers sharing it fail, the next call opens anew", async () => {
    const { once, opens } = counting(1);
    const failed = await Promise.allSettled([once.get(), once.get()]);
    assert.deepEqual(
      failed.map((r) => r.status),
      ["rejected", "rejected"],
    );
    assert.equal(once.started, null);
    assert.equal((await once.get()).n, 2);
    assert.equal(opens(), 2);
  });

  it("forget(instance) drops only the instance still held", async () => {
    const { once } = counting();
    const first = await once.get();
    once.forget();
    const second = await once.get();
    assert.notEqual(second, first);
    once.forget(first);
    assert.equal(once.current, second);
    once.forget(second);
    assert.equal(once.current, null);
    assert.equal(once.started, null);
  });

  it("close() ends the instance, also one still opening, and the next get() opens anew", async () => {
    const { once } = counting();
    const opening = once.get();
    await once.close();
    const closed = await opening;
    assert.equal(closed.ended, true);
    assert.equal(once.current, null);
    const next = await once.get();
    assert.notEqual(next, closed);
    assert.equal(next.ended, false);
  });
});
