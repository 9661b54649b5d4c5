// link_error errbacks as Celery calls them (backends/base.py
// _call_task_errbacks): a new-style errback gets (request, exc, traceback)
// followed by its signature's own args and kwargs, only its own when it is
// immutable; a bound errback is sent as a task with the failed task's id, as
// Celery sends bound ones (one-parameter errbacks, sent as tasks with the
// failed task's id, are covered by the canvas suite).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Celeriac, RemoteTaskError, Worker, type FailedRequest, type TaskContext } from "../../src/index.js";
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
  const bound: { id: string; args: unknown[] }[] = [];
  const boundErrback = app.task({ name: "eb.bound", bind: true }, function (this: TaskContext, taskId: string, tag: string) {
    bound.push({ id: this.request.id, args: [taskId, tag] });
  });
  const severalArgs = app.task("eb.severalArgs", () => {
    throw new RemoteTaskError("ExpectedException", "Task expected to fail, test", "t.tasks", null, ["Task expected to fail", "test"]);
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

  it("an immutable new-style errback gets only its own args", async () => {
    const before = calls.length;
    await assert.rejects(
      fail
        .s()
        .set({ linkError: (newStyle.si as (...a: unknown[]) => ReturnType<typeof newStyle.si>)("only", "mine", null) })
        .delay()
        .get({ timeout: 5000 }),
    );
    await waitUntil("the immutable errback's call", () => calls.length === before + 1, 5000);
    const call = calls[before]!;
    assert.equal(call.request as unknown, "only");
    assert.equal(call.error as unknown, "mine");
    assert.deepEqual(call.rest, []);
  });

  it("a bound errback is sent as a task with the failed task's id before its own args", async () => {
    const res = fail
      .s()
      .set({ linkError: boundErrback.s("tag-b") })
      .delay();
    await assert.rejects(res.get({ timeout: 5000 }));
    await waitUntil("the bound errback's run", () => bound.length === 1, 5000);
    assert.notEqual(bound[0]!.id, res.id, "it ran as a task of its own");
    assert.deepEqual(bound[0]!.args, [res.id, "tag-b"]);
  });

  it("an exception with several args keeps them all", async () => {
    await assert.rejects(severalArgs.delay().get({ timeout: 5000 }), (err: RemoteTaskError) => {
      assert.equal(err.name, "ExpectedException");
      assert.deepEqual(err.args, ["Task expected to fail", "test"]);
      return true;
    });
  });
});
