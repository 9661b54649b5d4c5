"""Feeds events captured from Celeriac (a JSON list in the file given) to
Celery's own events machinery -- celery.events.state.State and the
`celery events --dump` Dumper -- and prints what Celery made of them as JSON.
"""
import io
import json
import sys
import time

from celery.events.dumper import Dumper
from celery.events.state import State


def main(path):
    with open(path) as f:
        events = json.load(f)
    state = State()
    out = io.StringIO()
    dumper = Dumper(out=out)
    now = time.time()
    for event in events:
        event = dict(event)
        # As Celery's EventReceiver stamps events when they arrive.
        event['local_received'] = now
        state.event(dict(event))
        dumper.on_event(dict(event))
    tasks = {
        uuid: {
            'state': task.state, 'name': task.name, 'args': task.args, 'kwargs': task.kwargs,
            'result': task.result, 'runtime': task.runtime, 'exception': task.exception,
            'worker': task.worker.hostname if task.worker else None, 'retries': task.retries,
        }
        for uuid, task in state.tasks.items()
    }
    workers = {
        hostname: {'alive': worker.alive, 'processed': worker.processed, 'sw_ident': worker.sw_ident,
                   'active': worker.active, 'freq': worker.freq, 'loadavg': list(worker.loadavg or [])}
        for hostname, worker in state.workers.items()
    }
    print(json.dumps({'tasks': tasks, 'workers': workers, 'dump': out.getvalue().splitlines(),
                      'event_count': state.event_count, 'task_count': state.task_count}))


if __name__ == '__main__':
    main(sys.argv[1])
