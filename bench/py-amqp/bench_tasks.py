"""Python Celery 5.2 peer for bench/amqp.ts: a no-op task on a queue named by
the environment, results over rpc:// (as the Celeriac side)."""
import os

from celery import Celery
from kombu import Exchange, Queue

QUEUE = os.environ["BENCH_QUEUE"]

app = Celery("bench", broker=os.environ["BENCH_AMQP_URL"], backend="rpc://")
app.conf.update(
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
    task_queues=[Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)],
    worker_hijack_root_logger=False,
    accept_content=["json"],
)


@app.task(name="bench.noop")
def noop():
    return None
