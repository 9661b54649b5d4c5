"""Sequential delay→get round trips with Python Celery as the client, after
round trips for BENCH_WARM_UP_MS (as the Node clients do, bench/roundtrip.mjs);
prints {"p50": ms, "p99": ms} of the n measured ones as JSON."""
import json
import os
import sys
import time

from bench_tasks import noop

n = int(sys.argv[1])
warm_until = time.perf_counter() + float(os.environ.get("BENCH_WARM_UP_MS", "3000")) / 1000
while time.perf_counter() < warm_until:
    noop.delay().get(timeout=30)
times = []
for _ in range(n):
    t0 = time.perf_counter()
    noop.delay().get(timeout=30)
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"p50": times[int(0.5 * n)], "p99": times[min(n - 1, int(0.99 * n))]}))
