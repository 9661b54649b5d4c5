"""Sequential delay→get round trips with Python Celery as the client, in
rounds; prints the best round's {"p50": ms, "p99": ms} as JSON."""
import json
import sys
import time

from bench_tasks import noop

n = int(sys.argv[1])
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
noop.delay().get(timeout=30)  # warm up: connection, reply queue
best = None
for _ in range(rounds):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        noop.delay().get(timeout=30)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    r = {"p50": times[int(0.5 * n)], "p99": times[min(n - 1, int(0.99 * n))]}
    if best is None or r["p50"] < best["p50"]:
        best = r
print(json.dumps(best))
