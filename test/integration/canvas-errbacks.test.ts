// link_error errbacks as Celery calls them (backends/base.py
// _call_task_errbacks): a new-style errback gets (request, exc, traceback)
// followed by its signature's own args and kwargs (one-parameter errbacks,
// sent as tasks with the failed task's id, are covered by the canvas suite).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac, Worker, type FailedRequest } from "../../src/index.js";
import { waitUntil } from "../support/wait.js";

describe("errbacks with arguments of their own", () => {
  const url = `memory://errbacks-${randomUUID()}`;
  const app = new Celeriac({ name: "errbacks", broker: url, backend: url });
  const calls: { request: FailedRequest; error: Error; rest: unknown[] }[] = [];
  const fail = app.task("eb.fail", () => {
    throw new RangeError("broken");
  });
  const newStyle = app.task("eb.newStyle", (request: FailedRequest, error: Error, _traceback: string | null, ...rest: unknown[]) => {
    calls.push({ request, error, rest });
  });
  const worker = new Worker(app, { pool: "async", concurrency: 2 });
  before(() => worker.start());
  after(async () => {
    await worker.stop();
    await app.close();
  });

  it("a new-style errback gets the signature's args and kwargs after (request, exc, traceback)", async () => {
    const res = fail
      .s()
      .set({ linkError: newStyle.s("tag-1", 2).set({}) })
      .delay();
    await assert.rejects(res.get({ timeout: 5000 }), (err: Error) => err.name === "RangeError");
    await waitUntil("the errback's call", () => calls.length === 1, 5000);
    assert.equal(calls[0]!.request.id, res.id);
    assert.equal(calls[0]!.error.name, "RangeError");
    assert.deepEqual(calls[0]!.rest, ["tag-1", 2]);
    const withKwargs = newStyle.s("tag-2");
    withKwargs.kwargs = { k: "v" };
    await assert.rejects(fail.s().set({ linkError: withKwargs }).delay().get({ timeout: 5000 }), (err: Error) => err.name === "RangeError");
    await waitUntil("the second errback's call", () => calls.length === 2, 5000);
    assert.deepEqual(calls[1]!.rest, ["tag-2", { k: "v" }]);
  });
});
