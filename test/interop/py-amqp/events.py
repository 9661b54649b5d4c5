"""Python Celery's own event receiver on RabbitMQ: listens for at most the
given number of seconds, or, given a hostname, until it has seen a
task-succeeded event from it; prints the events it saw (type, hostname, uuid)
as JSON."""
import json
import socket
import sys
import time

from interop_tasks import app

seconds = float(sys.argv[1])
until_from = sys.argv[2] if len(sys.argv) > 2 else None
seen = []


def done():
    return until_from is not None and any(e["type"] == "task-succeeded" and e["hostname"] == until_from for e in seen)


def on_event(event):
    seen.append({"type": event.get("type"), "hostname": event.get("hostname"), "uuid": event.get("uuid")})


with app.connection() as conn:
    receiver = app.events.Receiver(conn, handlers={"*": on_event})
    deadline = time.time() + seconds
    consumer = receiver.consume(limit=None, timeout=0.5, safety_interval=0.1)
    print("listening", flush=True)
    while time.time() < deadline and not done():
        try:
            next(consumer)
        except (socket.timeout, StopIteration):
            pass
print(json.dumps(seen))
