"""The Python Celery app of the Redis benchmark: one no-op task, one echo."""
import os

from celery import Celery

URL = os.environ["BENCH_REDIS_URL"]
app = Celery("benchapp", broker=URL, backend=URL)
app.conf.update(task_default_queue=os.environ.get("BENCH_QUEUE", "celery"), worker_prefetch_multiplier=4)


@app.task(name="bench.noop", ignore_result=True)
def noop(*args):
    return None


@app.task(name="bench.echo")
def echo(x):
    return x
