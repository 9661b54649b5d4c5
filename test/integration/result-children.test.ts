// AsyncResult.children, GroupResult.children and collect()/iterdeps() as
// Celery's (celery/result.py), read from the children the worker records in
// the result meta (src/trail.ts): breadth first from the result itself,
// `[result, value]` pairs, IncompleteStream on a result not ready unless
// `intermediate`. Python's own reading of those children is
// test/interop/children-celery.test.ts.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { AsyncResult, Celeriac, GroupResult, IncompleteStream, Worker, chain, group } from "../../src/index.js";

describe("result children and collect()", () => {
  const url = `memory://children-${randomUUID()}`;
  const app = new Celeriac({ name: "children", broker: url, backend: url });
  const leaf = app.task("ch.leaf", (x: number) => x * 10);
  const spawner = app.task("ch.spawner", async () => {
    await leaf.delay(1).sent;
    await group(leaf.s(2), leaf.s(3)).applyAsync().sent;
    return "root";
  });
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  const waiting = app.task("ch.waiting", async () => {
    await held;
    return "done";
  });
  const worker = new Worker(app, { pool: "async", concurrency: 4 });
  before(() => worker.start());
  after(async () => {
    release();
    await worker.stop();
    await app.close();
  });

  it("children name what the task sent; collect() walks them breadth first as [result, value]", async () => {
    const res = spawner.delay();
    assert.equal(res.children, null, "nothing read yet");
    assert.equal(await res.get({ timeout: 5000 }), "root");
    const children = res.children!;
    assert.equal(children.length, 2);
    assert.ok(children[0] instanceof AsyncResult);
    assert.ok(children[1] instanceof GroupResult);
    assert.equal((children[1] as GroupResult).children.length, 2);
    const pairs: [AsyncResult | GroupResult, unknown][] = [];
    for await (const pair of res.collect({ timeout: 5000 })) pairs.push(pair);
    assert.deepEqual(
      pairs.map(([, v]) => v),
      ["root", 10, [20, 30], 20, 30],
    );
    assert.equal(pairs[0]![0], res);
    assert.equal(pairs[2]![0], children[1]);
    assert.deepEqual(
      pairs.slice(3).map(([r]) => r.id),
      (children[1] as GroupResult).results.map((r) => r.id),
    );
  });

  it("a chain's steps are each other's children", async () => {
    const res = chain(leaf.s(1), leaf.s(), leaf.s()).applyAsync();
    await res.get({ timeout: 5000 });
    const first = res.parent!.parent as AsyncResult;
    const values: unknown[] = [];
    for await (const [, v] of first.collect({ timeout: 5000 })) values.push(v);
    assert.deepEqual(values, [10, 100, 1000]);
  });

  it("iterdeps() stops at a result not ready with IncompleteStream, or walks past it with intermediate", async () => {
    const res = waiting.delay();
    await res.sent;
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const [, node] of res.iterdeps()) seen.push(node.id);
    }, IncompleteStream);
    assert.deepEqual(seen, [res.id], "the root is yielded before the walk stops");
    const walked: string[] = [];
    for await (const [parent, node] of res.iterdeps({ intermediate: true })) walked.push(`${parent?.id ?? "-"}>${node.id}`);
    assert.deepEqual(walked, [`->${res.id}`]);
    release();
    assert.equal(await res.get({ timeout: 5000 }), "done");
    assert.deepEqual(res.children, []);
  });
});
