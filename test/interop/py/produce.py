"""Sends tasks from Python Celery and reports what came of them, as JSON.

argv[1] is a JSON list of calls: {"name", "args", "kwargs", "options", "wait"}.
options are apply_async options (countdown, expires, priority, queue,
serializer). With "wait" (seconds) the result is awaited with get(). Prints
one JSON list: {"id", "state", "result"} or {"id", "state", "error": {"type", "message"}}.
"""
import json
import sys
import time

from pyapp import app


def main():
    calls = json.loads(sys.argv[1])
    sent = []
    for call in calls:
        started = time.time()
        r = app.send_task(call["name"], args=call.get("args", []), kwargs=call.get("kwargs", {}), **call.get("options", {}))
        sent.append((call, r, started))
    out = []
    for call, r, started in sent:
        entry = {"id": r.id}
        if call.get("wait"):
            try:
                entry["result"] = r.get(timeout=call["wait"])
            except Exception as exc:  # the other side's error, re-created by Celery
                entry["error"] = {"type": type(exc).__name__, "message": str(exc), "module": type(exc).__module__}
            entry["elapsed"] = time.time() - started
        entry["state"] = r.state
        out.append(entry)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
