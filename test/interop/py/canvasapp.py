"""The Python Celery 5.2.6 side of the canvas interop tests: the same canvas.*
tasks as test/fixtures/canvas-app.ts, so a workflow's steps can run on either
side. Configured by CANVAS_REDIS_URL (results, and the broker unless
CANVAS_BROKER_URL names another, e.g. RabbitMQ) and CANVAS_QUEUE (the queue
this app sends to by default and its worker consumes); CANVAS_ACCEPT
(comma-separated serializers, default json), and with CANVAS_SECURITY_DIR
(key.pem, cert.pem, store/) message signing as app.setup_security() sets it up."""
import os
import time

from celery import Celery, group

URL = os.environ["CANVAS_REDIS_URL"]

app = Celery("pycanvas", broker=os.environ.get("CANVAS_BROKER_URL") or URL, backend=URL)
app.conf.update(
    task_default_queue=os.environ.get("CANVAS_QUEUE", "celery"),
    worker_prefetch_multiplier=1,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    accept_content=os.environ.get("CANVAS_ACCEPT", "json").split(","),
)
if os.environ.get("CANVAS_SECURITY_DIR"):
    SECURITY = os.environ["CANVAS_SECURITY_DIR"]
    app.conf.update(
        task_serializer="auth",
        accept_content=["auth"],
        result_accept_content=["json"],
        security_key=os.path.join(SECURITY, "key.pem"),
        security_certificate=os.path.join(SECURITY, "cert.pem"),
        security_cert_store=os.path.join(SECURITY, "store", "*.pem"),
    )
    app.setup_security()


@app.task(name="canvas.add")
def add(x, y):
    return x + y


@app.task(name="canvas.spawn")
def spawn(x):
    """Sends two tasks and a group while it runs: its result's children name them."""
    add.delay(x, 1)
    add.delay(x, 2)
    group(add.s(x, 3), add.s(x, 4)).delay()
    return x


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


@app.task(name="canvas.pyReplace", bind=True)
def py_replace(self, x):
    """Replaces itself (Celery's self.replace) with add(x, 10), sent to this app's queue."""
    raise self.replace(add.s(x, 10))


@app.task(name="canvas.pyProgress", bind=True)
def py_progress(self, steps):
    """PROGRESS 1/steps ... steps/steps through update_state, each held until
    the caller stores GO<i> (as test/fixtures/progress-app.ts's progress.gated)."""
    for i in range(1, steps + 1):
        self.update_state(state="PROGRESS", meta={"current": i, "total": steps})
        deadline = time.monotonic() + 30
        while app.AsyncResult(self.request.id).state != "GO%d" % i:
            if time.monotonic() > deadline:
                raise TimeoutError("gate GO%d never opened" % i)
            time.sleep(0.02)
    return "py done %d" % steps
