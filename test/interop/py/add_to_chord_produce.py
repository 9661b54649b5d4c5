"""Starts chords from Python Celery whose header tasks add to their chord on a
Celeriac worker (CANVAS_QUEUE), and prints what came of each, as one JSON
object. With PY_QUEUE as the added tasks' queue a Python worker records their
parts: it must count the Celeriac worker's `.t` to complete the chord."""
import json
import os

from celery import chord

from canvasapp import add, tsum
from produce_helpers import outcome, ts

PY_QUEUE = os.environ["PY_QUEUE"]



def main():
    out = {}
    out["celeriac_parts"] = outcome(chord([ts("addToChord.addToAll", [1, 2, 3], 4)], tsum.s()).apply_async())
    out["python_parts"] = outcome(chord([ts("addToChord.addToAll", [1, 2, 3], 4, PY_QUEUE)], tsum.s()).apply_async())
    out["chord_python_parts"] = outcome(chord([ts("addToChord.addChord", [1, 2, 3], 4, PY_QUEUE)], tsum.s()).apply_async())
    out["mixed"] = outcome(chord([ts("addToChord.addToAll", [1, 2], 10), add.s(100, 0).set(queue=PY_QUEUE)], tsum.s()).apply_async())
    out["not_in_chord"] = outcome(ts("addToChord.addToAll", [1], 1).delay())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
