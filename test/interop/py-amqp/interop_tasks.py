"""The Python side of the AMQP interop tests: a Celery 5.2 app whose queues,
exchanges and tasks mirror test/interop/amqp-app.ts. Names come from the
environment so every test run uses queues of its own on the shared RabbitMQ."""
import itertools
import os
import time

from celery import Celery
from kombu import Exchange, Queue

AMQP_URL = os.environ["INTEROP_AMQP_URL"]
QUEUE = os.environ["INTEROP_QUEUE"]
TOPIC_QUEUE = os.environ["INTEROP_TOPIC_QUEUE"]
TOPIC_EXCHANGE = os.environ["INTEROP_TOPIC_EXCHANGE"]

app = Celery("interop", broker=AMQP_URL, backend=os.environ.get("INTEROP_BACKEND", "rpc://"))
app.conf.update(
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_queue_max_priority=10,
    task_queues=[
        Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE),
        Queue(TOPIC_QUEUE, Exchange(TOPIC_EXCHANGE, type="topic"), routing_key="reports.#"),
    ],
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
)

_order = itertools.count()


@app.task(name="interop.add")
def add(x, y):
    return x + y


@app.task(name="interop.echo", bind=True)
def echo(self, *args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task(name="interop.boom")
def boom(message):
    raise ValueError(message)


@app.task(name="interop.block")
def block(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="interop.mark")
def mark(tag):
    """Returns the order in which this worker ran it."""
    return [next(_order), tag]


@app.task(name="interop.where", bind=True)
def where(self):
    info = self.request.delivery_info or {}
    return {"exchange": info.get("exchange"), "routing_key": info.get("routing_key")}


@app.task(name="interop.who", bind=True)
def who(self, seconds):
    time.sleep(seconds)
    return self.request.hostname
