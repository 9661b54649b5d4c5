"""The Python Celery 5.2.6 side of the interop tests: an app whose worker runs
the py.* tasks, and which the producer helper uses to send to Celeriac.

Configured by environment: INTEROP_REDIS_URL (results, and the broker unless
INTEROP_BROKER_URL names another, e.g. RabbitMQ), INTEROP_PY_QUEUE (the queue
this worker consumes), for a sentinel:// URL, INTEROP_MASTER_NAME (kombu's
master_name transport option) and INTEROP_GLOBAL_KEYPREFIX (kombu's
global_keyprefix, on the broker only: Celery 5.2's result backend has none)
with INTEROP_UNACKED_KEY (kombu's unacked_key)."""
import os
import time

import redis
from celery import Celery

URL = os.environ["INTEROP_REDIS_URL"]

app = Celery("pyapp", broker=os.environ.get("INTEROP_BROKER_URL") or URL, backend=URL)
app.conf.update(
    accept_content=["json", "msgpack"],
    result_accept_content=["json", "msgpack"],
    task_default_queue=os.environ.get("INTEROP_PY_QUEUE", "celery"),
    worker_prefetch_multiplier=1,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
)
if os.environ.get("INTEROP_MASTER_NAME"):
    sentinel = {"master_name": os.environ["INTEROP_MASTER_NAME"]}
    app.conf.update(broker_transport_options=sentinel, result_backend_transport_options=sentinel)
if os.environ.get("INTEROP_GLOBAL_KEYPREFIX"):
    prefixed = {"global_keyprefix": os.environ["INTEROP_GLOBAL_KEYPREFIX"]}
    # On a Redis Cluster: kombu 5.2.4 WATCHes unacked_key without the prefix when it
    # restores a message, so that key name must carry the hash tag itself.
    if os.environ.get("INTEROP_UNACKED_KEY"):
        prefixed["unacked_key"] = os.environ["INTEROP_UNACKED_KEY"]
    app.conf.update(broker_transport_options=prefixed)


@app.task(name="py.echo")
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task(name="py.add")
def add(x, y):
    return x + y


@app.task(name="py.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="py.retry_once", bind=True, max_retries=3)
def retry_once(self, value):
    if self.request.retries < 1:
        raise self.retry(countdown=0.5, exc=RuntimeError("first attempt fails"))
    return "%s after %d retry" % (value, self.request.retries)


@app.task(name="shared.who")
def who(ms):
    """A task both sides register (ts fixture: the same name): says who ran it, after `ms` of work."""
    time.sleep(ms / 1000)
    return "python"


@app.task(name="py.now")
def now():
    return time.time()


@app.task(name="py.record")
def record(key, tag):
    """Appends a tag to a Redis list, so a test can see the order tasks ran in."""
    redis.Redis.from_url(URL).rpush(key, tag)
    return tag
