"""Python Celery as the producer: sends tasks to a Celeriac worker over
RabbitMQ, waits for the results over the configured backend, prints them as
one JSON object on stdout."""
import json
import time

from interop_tasks import TOPIC_QUEUE, app

NESTED = {"text": "héllo ✓ 你好", "list": [1, 2.5, None, True], "nested": {"a": {"b": []}}}
TIMEOUT = 30


def outcome(result):
    try:
        return {"ok": result.get(timeout=TIMEOUT)}
    except Exception as exc:  # noqa: BLE001 - the test compares the type
        return {"error": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}


out = {}
out["echo"] = outcome(app.send_task("interop.echo", args=[1, "ü", NESTED], kwargs={"k": "v"}))
out["kw"] = outcome(app.send_task("interop.kw", args=[1], kwargs={"b": 2}))
out["boom"] = outcome(app.send_task("interop.boom", args=["nope"]))

started = time.time()
delayed = app.send_task("interop.add", args=[1, 1], countdown=1)
out["countdown"] = outcome(delayed)
out["countdown"]["elapsed"] = time.time() - started

out["where"] = outcome(app.send_task("interop.where", queue=TOPIC_QUEUE, routing_key="reports.daily"))

# Priorities: occupy the single slot, let one message into the prefetch
# window, then queue a backlog of mixed priorities.
blocker = app.send_task("interop.block", args=[0.8])
time.sleep(0.3)
marks = [app.send_task("interop.mark", args=["filler"], priority=0)]
time.sleep(0.1)
for tag, priority in [("low1", 1), ("low2", 1), ("high1", 9), ("mid", 5), ("high2", 9)]:
    marks.append(app.send_task("interop.mark", args=[tag], priority=priority))
blocker.get(timeout=TIMEOUT)
ran = sorted(m.get(timeout=TIMEOUT) for m in marks)
out["priority"] = [tag for _, tag in ran]

print(json.dumps(out))
