"""The Python Celery 5.2.6 side of the canvas interop tests: the same canvas.*
tasks as test/fixtures/canvas-app.ts, so a workflow's steps can run on either
side. Configured by CANVAS_REDIS_URL (broker and results) and CANVAS_QUEUE
(the queue this app sends to by default and its worker consumes)."""
import os

from celery import Celery

URL = os.environ["CANVAS_REDIS_URL"]

app = Celery("pycanvas", broker=URL, backend=URL)
app.conf.update(
    task_default_queue=os.environ.get("CANVAS_QUEUE", "celery"),
    worker_prefetch_multiplier=1,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
)


@app.task(name="canvas.add")
def add(x, y):
    return x + y


@app.task(name="canvas.mul")
def mul(x, y):
    return x * y


@app.task(name="canvas.double")
def double(x):
    return x * 2


@app.task(name="canvas.tsum")
def tsum(values):
    return sum(values)


@app.task(name="canvas.identity")
def identity(x):
    return x


@app.task(name="canvas.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="canvas.onError")
def on_error(task_id):
    """An old-style errback (one argument: the failed task's id)."""
    return {"failed": task_id}
