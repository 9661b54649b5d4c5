// The result meta builder: the keys, order and date format Celery's own backends write.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dateDone, resultMeta } from "../../src/backends/result-meta.js";
import { States } from "../../src/states.js";

// Python 3.10's datetime.fromisoformat: a fraction of exactly three or six digits, an optional offset.
const FROMISOFORMAT = /^\d{4}-\d{2}-\d{2}[^\d](\d{2})(:\d{2}(:\d{2}(\.(\d{3}|\d{6}))?)?)?([+-]\d{2}:\d{2}(:\d{2}(\.\d{6})?)?)?$/;
// Celery's utils/iso8601 reads the fraction as a whole number of microseconds.
const CELERY_ISO8601 = /^(\d{4})-(\d{1,2})-(\d{1,2}).(\d{2}):(\d{2}):(\d{2})\.(\d+)$/;

describe("resultMeta (Celery's _get_result_meta)", () => {
  it("date_done is a naive UTC isoformat whose fraction is microseconds", () => {
    const at = new Date(Date.UTC(2026, 11, 7, 4, 5, 6, 789));
    const text = dateDone(at);
    assert.equal(text, "2026-12-07T04:05:06.789000");
    assert.match(text, FROMISOFORMAT);
    const [, , , , , , , fraction] = CELERY_ISO8601.exec(text)!;
    assert.equal(Number(fraction), 789_000);
  });

  it("a ready state gets the time it finished; STARTED, RETRY and custom states get none", () => {
    const before = Date.now();
    const done = resultMeta({ taskId: "t1", status: States.SUCCESS, result: 42 });
    assert.match(done.date_done!, FROMISOFORMAT);
    const at = Date.parse(`${done.date_done!.slice(0, 23)}Z`);
    assert.ok(at >= before - 1 && at <= Date.now(), done.date_done!);
    for (const status of [States.FAILURE, States.REVOKED]) assert.notEqual(resultMeta({ taskId: "t", status, result: null }).date_done, null);
    for (const status of [States.STARTED, States.RETRY, "PROGRESS"]) assert.equal(resultMeta({ taskId: "t", status, result: null }).date_done, null);
  });

  it("the keys Celery writes, in its order; group_id and parent_id only when set", () => {
    const m = resultMeta({ taskId: "t1", status: States.FAILURE, result: { exc_type: "ValueError" }, traceback: "tb", groupId: "g1", parentId: "p1" });
    assert.deepEqual(Object.keys(m), ["status", "result", "traceback", "children", "date_done", "group_id", "parent_id", "task_id"]);
    assert.deepEqual([m.task_id, m.traceback, m.children, m.group_id, m.parent_id], ["t1", "tb", [], "g1", "p1"]);
    const bare = resultMeta({ taskId: "t2", status: States.SUCCESS, result: 1, groupId: null, parentId: "" });
    assert.deepEqual(Object.keys(bare), ["status", "result", "traceback", "children", "date_done", "task_id"]);
    assert.equal(bare.traceback, null);
  });

  it("resultExtended: name, args, kwargs, worker, retries and queue before task_id", () => {
    const extended = { name: "tasks.add", args: [1, 2], kwargs: { z: 3 }, worker: "w1@host", retries: 2, queue: "celery" };
    const m = resultMeta({ taskId: "t1", status: States.SUCCESS, result: 3, extended });
    assert.deepEqual(Object.keys(m), [
      "status",
      "result",
      "traceback",
      "children",
      "date_done",
      "name",
      "args",
      "kwargs",
      "worker",
      "retries",
      "queue",
      "task_id",
    ]);
    assert.deepEqual({ ...m, date_done: null }, { status: "SUCCESS", result: 3, traceback: null, children: [], date_done: null, ...extended, task_id: "t1" });
  });
});
