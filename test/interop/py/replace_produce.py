"""Starts workflows with tasks that replace themselves from Python Celery and
prints what came of each, as one JSON object. replace.* tasks run on a
Celeriac worker (CANVAS_QUEUE); PY_QUEUE is a Python worker's queue."""
import json
import os
import uuid

from celery import chain, chord

from canvasapp import add, app, mul, py_replace, tsum
from produce_helpers import outcome, ts

PY_QUEUE = os.environ["PY_QUEUE"]



def main():
    out = {}
    out["task"] = outcome(ts("replace.byTask", 5).delay())
    out["chain_middle"] = outcome(chain(add.s(1, 1), ts("replace.byChain"), mul.s(10)).apply_async())
    out["group"] = outcome(ts("replace.byGroup", 5).delay())
    out["chord_part"] = outcome(chord([ts("replace.byTask", 1), add.s(1, 1)], tsum.s()).apply_async())
    out["chord_body"] = outcome(chord([add.s(1, 1), add.s(2, 2)], ts("replace.sumByReplace")).apply_async())
    cb_id = str(uuid.uuid4())
    r = ts("replace.byTask", 1).set(link=add.s(100).set(task_id=cb_id)).delay()
    out["callback"] = {"task": outcome(r), "callback": outcome(app.AsyncResult(cb_id))}
    # The rest of the chain runs on a Python worker after a Celeriac replacement...
    out["then_python"] = outcome(chain(ts("replace.byTask", 5), add.s(1).set(queue=PY_QUEUE)).apply_async())
    # ...and on the Celeriac worker after a Python one.
    out["python_replaced"] = outcome(chain(py_replace.s(5).set(queue=PY_QUEUE), mul.s(10)).apply_async())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
