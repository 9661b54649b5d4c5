"""Asks one worker (argv[1], its node name) Celery's inspect questions and
prints the replies as one JSON object: {method: reply}. argv[2] is a task id
for query_task. Uses pyapp (INTEROP_REDIS_URL)."""
import json
import sys

from pyapp import app


def main():
    node, task_id = sys.argv[1], sys.argv[2]
    inspect = app.control.inspect(destination=[node], timeout=3)
    replies = {
        "clock": inspect.clock(),
        "registered": inspect.registered(),
        "registered_name": inspect.registered("name"),
        "active_queues": inspect.active_queues(),
        "query_task": inspect.query_task(task_id),
        "query_unknown": inspect.query_task("d08b257e-a7f1-4b92-9fea-be911441cb2a"),
        "report": inspect.report(),
        "conf": inspect.conf(),
    }
    print(json.dumps({k: (v or {}).get(node) for k, v in replies.items()}))


if __name__ == "__main__":
    main()
