"""Python Celery's side of the Redis benchmark, as a producer.

client.py enqueue <n>     sends n no-op tasks; prints {"seconds": …}
client.py roundtrip <n>   n sequential echo.delay(i).get(); prints {"samples_ms": […]}"""
import json
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
    echo.delay(0).get(timeout=30)  # warm up: connection and result consumer
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        echo.delay(i).get(timeout=30)
        samples.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"samples_ms": samples}))


if __name__ == "__main__":
    main()
