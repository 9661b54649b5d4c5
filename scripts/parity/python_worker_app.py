"""The app a Python Celery worker process loads for the reference run of
npm run parity (PARITY_WORKER=python): the suite's own tasks, on the broker
and backend the suite uses, as its session worker would run them."""
import os

from celery import Celery

app = Celery("celery.tests", broker=os.environ["TEST_BROKER"], backend=os.environ["TEST_BACKEND"], include=["t.integration.tasks"])
app.loader.import_default_modules()

from t.integration.tasks import ClassBasedAutoRetryTask  # noqa: E402

app.register_task(ClassBasedAutoRetryTask())
