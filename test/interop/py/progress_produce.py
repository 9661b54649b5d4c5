"""Follows a Celeriac task that reports progress (progress.gated on the
Celeriac worker, CANVAS_QUEUE) with Python's AsyncResult.state and .info,
opening each step's gate as Celery would store any state (store_result), and
prints what it saw as one JSON object."""
import json
import time

from canvasapp import app
from produce_helpers import outcome, ts


def follow(res, steps):
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if res.state == "PROGRESS" and (not seen or seen[-1] != res.info):
            info = res.info
            seen.append(info)
            app.backend.store_result(res.id, None, "GO%d" % info["current"])
            if info["current"] == steps:
                break
        time.sleep(0.02)
    return seen


def main():
    res = ts("progress.gated", 2).delay()
    seen = follow(res, 2)
    print(json.dumps({"seen": seen, "final": outcome(res)}))


if __name__ == "__main__":
    main()
