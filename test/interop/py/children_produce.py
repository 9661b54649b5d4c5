"""Runs workflows whose results have children (Celery's request.children:
the tasks a task started) on one worker's queue, and prints what
AsyncResult.children gave for each, as one JSON object. The queue is the
first argument: the Celeriac worker's (CANVAS_QUEUE) or the Python worker's
(PY_QUEUE), so the test can compare the two."""
import json
import os
import sys

from celery import chain, chord
from celery.result import GroupResult

from canvasapp import add, fail, on_error, spawn, tsum

QUEUE = os.environ[sys.argv[1]]


def on(sig):
    return sig.set(queue=QUEUE)


def describe(res):
    """A result and, recursively, its children: a GroupResult as its members."""
    if isinstance(res, GroupResult):
        return {"group": [describe(r) for r in res.results]}
    value = res.get(timeout=30, propagate=False)
    return {"result": value if not isinstance(value, Exception) else type(value).__name__,
            "children": [describe(c) for c in res.children or []]}


def main():
    out = {}
    res = chain(on(add.s(1, 1)), on(add.s(2))).apply_async()
    res.get(timeout=30)
    out["chain"] = describe(res.parent)
    out["one_callback"] = describe(on(add.s(1, 1)).apply_async(link=on(add.s(10))))
    out["two_callbacks"] = describe(on(add.s(1, 1)).apply_async(link=[on(add.s(10)), on(add.s(20))]))
    out["spawned"] = describe(on(spawn.s(5)).delay())
    res = chord([on(add.s(1, 1)), on(fail.s("boom"))], on(tsum.s()).on_error(on(on_error.s()))).apply_async()
    # The callback never runs: its stored failure names the errbacks' group, whose member got the callback's id.
    out["chord_errback"] = describe(res)
    out["chord_errback_callback_id"] = res.id
    print(json.dumps(out))


if __name__ == "__main__":
    main()
