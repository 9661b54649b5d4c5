"""Python Celery's own event receiver on RabbitMQ: listens for the given
number of seconds and prints the events it saw (type, hostname, uuid) as JSON."""
import json
import socket
import sys
import time

from interop_tasks import app

seconds = float(sys.argv[1])
seen = []


def on_event(event):
    seen.append({"type": event.get("type"), "hostname": event.get("hostname"), "uuid": event.get("uuid")})


with app.connection() as conn:
    receiver = app.events.Receiver(conn, handlers={"*": on_event})
    deadline = time.time() + seconds
    consumer = receiver.consume(limit=None, timeout=0.5, safety_interval=0.1)
    print("listening", flush=True)
    while time.time() < deadline:
        try:
            next(consumer)
        except (socket.timeout, StopIteration):
            pass
print(json.dumps(seen))
