"""A pytest plugin that runs Celery's own integration suite against a
worker process: Celery's session worker fixture starts its embedded worker
through celery.contrib.testing.worker.start_worker; this plugin puts a
worker process in its place, under the node name the suite expects: a
Celeriac worker (the port of the suite's tasks in test/parity/tasks.ts), or
with PARITY_WORKER=python a Python Celery prefork worker of the suite's own
tasks (python_worker_app.py), for the reference figure in the same setup."""
import contextlib
import os
import signal
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def worker_command(node, concurrency):
    if os.environ.get("PARITY_WORKER", "celeriac") == "python":
        return ["/usr/bin/python3", "-m", "celery", "-A", "python_worker_app", "worker", "-P", "prefork",
                "-c", str(concurrency), "-n", node, "-l", "warning", "--without-mingle", "--without-gossip"], os.getcwd()
    return ["node", "--import", "tsx", "src/cli/main.ts", "-A", "test/parity/tasks.ts", "worker",
            "-P", os.environ.get("PARITY_POOL", "process"), "-c", str(concurrency), "-n", node], ROOT


@contextlib.contextmanager
def start_worker_process(app, concurrency=1, pool="solo", **_kwargs):
    from celery.utils.nodenames import anon_nodename

    node = anon_nodename()
    env = dict(
        os.environ,
        CELERIAC_BROKER_URL=app.conf.broker_url,
        CELERIAC_RESULT_BACKEND=app.conf.result_backend,
        CELERIAC_LOG_LEVEL=os.environ.get("PARITY_LOG_LEVEL", "warning"),
    )
    args, cwd = worker_command(node, concurrency)
    log = open(os.environ.get("PARITY_WORKER_LOG", os.devnull), "a")
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.time() + 60
        while not app.control.ping(destination=[node], timeout=1):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the worker {node} did not answer a ping (exit code {proc.poll()})")
        yield proc
    finally:
        # The worker and its pool children are one process group: end them all.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def pytest_configure(config):
    import celery.contrib.testing.worker as testing_worker

    testing_worker.start_worker = start_worker_process
