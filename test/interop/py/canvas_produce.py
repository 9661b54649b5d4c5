"""Starts canvas workflows from Python Celery (to CANVAS_QUEUE, where a
Celeriac worker consumes) and prints what came of each, as one JSON object."""
import json
import uuid

from celery import chain, chord, group

from canvasapp import add, app, double, fail, identity, mul, on_error, tsum


def outcome(res, timeout=30):
    try:
        return {"state": "SUCCESS", "result": res.get(timeout=timeout)}
    except Exception as exc:  # the other side's error, re-created by Celery
        return {"state": "FAILURE", "type": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}


def main():
    out = {}
    r = chain(add.s(1, 2), add.s(3), mul.s(10)).apply_async()
    out["chain"] = outcome(r)
    out["chain_parents"] = [r.parent.get(timeout=10), r.parent.parent.get(timeout=10)]

    r = chord([add.s(i, i) for i in range(10)], tsum.s()).apply_async()
    out["chord"] = outcome(r)

    r = chain(add.s(1, 1), group(double.s(), add.s(10)), tsum.s(), double.s()).apply_async()
    out["chain_group_chord"] = outcome(r)

    r = chord([add.s(1, 1), add.s(2, 2)], chain(tsum.s(), double.s())).apply_async()
    out["chord_chain_callback"] = outcome(r)

    r = chord([chain(add.s(1, 1), double.s()), chain(add.s(2, 2), double.s())], tsum.s()).apply_async()
    out["chord_of_chains"] = outcome(r)

    r = group(add.s(i, 1) for i in range(5)).apply_async()
    out["group"] = outcome(r)
    r.save()
    out["saved_group"] = {"id": r.id, "children": [c.id for c in r.results]}

    r = add.starmap([[1, 2], [3, 4]]).apply_async()
    out["starmap"] = outcome(r)

    r = chain(add.s(1, 1), group(double.s(), identity.s())).apply_async()
    out["chain_ending_in_group"] = outcome(r)

    eb_id = str(uuid.uuid4())
    callback = tsum.s()
    callback.link_error(on_error.s().set(task_id=eb_id))
    r = chord([identity.s(1), fail.s("header broke")], callback).apply_async()
    # The callback's own result, read without its parents: the ChordError. (Read
    # first: Celery keeps one pending AsyncResult per id, and the one below never
    # completes, as get() raises the parent's error before waiting.)
    out["failing_chord"] = outcome(app.AsyncResult(r.id))
    # Celery's get() re-raises a failed parent's error first: the header task's.
    out["failing_chord_via_parent"] = outcome(r)
    out["failing_chord_callback_id"] = r.id
    out["failing_chord_errback"] = outcome(on_error.AsyncResult(eb_id))

    print(json.dumps(out))


if __name__ == "__main__":
    main()
