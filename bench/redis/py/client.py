"""Python Celery's side of the Redis benchmark, as a producer.

client.py enqueue <n>     sends n no-op tasks; prints {"seconds": …}
client.py roundtrip <n>   n sequential echo.delay(i).get(); prints {"samples_ms": […]}"""
import json
import os
import sys
import time

from benchapp import app, echo, noop


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "enqueue":
        with app.producer_or_acquire() as producer:
            noop.apply_async((0,), producer=producer)  # connect before timing
            t0 = time.perf_counter()
            for i in range(n):
                noop.apply_async((i,), producer=producer)
            print(json.dumps({"seconds": time.perf_counter() - t0}))
        return
    # Warm up as the Node clients do (bench/roundtrip.mjs): round trips for WARM_UP_MS first.
    warm_until = time.perf_counter() + float(os.environ.get("BENCH_WARM_UP_MS", "3000")) / 1000
    while time.perf_counter() < warm_until:
        echo.delay(0).get(timeout=30)
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        echo.delay(i).get(timeout=30)
        samples.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"samples_ms": samples}))


if __name__ == "__main__":
    main()
