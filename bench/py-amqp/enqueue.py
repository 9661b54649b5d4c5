"""Python Celery 5.2 as the producer, for bench/amqp.ts: sends n no-op tasks
with apply_async (results ignored, kombu's default publish: no confirms) and
prints {"rate": tasks/s} as JSON. The queue is declared before the clock
starts, as the Celeriac producer's is by its first send."""
import json
import sys
import time

from bench_tasks import app, noop

n = int(sys.argv[1])
with app.producer_or_acquire() as producer:
    noop.apply_async(ignore_result=True, producer=producer)
    t0 = time.perf_counter()
    for _ in range(n):
        noop.apply_async(ignore_result=True, producer=producer)
    elapsed = time.perf_counter() - t0
print(json.dumps({"rate": round(n / elapsed)}))
