import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from config.celery import app


def test_without_redis_url_tasks_run_eagerly():
    if settings.REDIS_URL:
        assert app.conf.task_always_eager is False and app.conf.broker_url == settings.REDIS_URL
    else:
        assert app.conf.task_always_eager is True


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: a real worker runs in CI's second pass")
def test_worker_starts_and_answers_on_the_redis_broker():
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=warning", "-n", "ci-ping@%h",
         # Its own queue: it answers the broadcast ping but takes no task another test queued.
         "-Q", "ci-ping"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        replies = []
        deadline = time.monotonic() + 30
        while not replies and time.monotonic() < deadline and worker.poll() is None:
            replies = app.control.ping(timeout=1)
        assert any(name.startswith("ci-ping@") for reply in replies for name in reply), worker.poll()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
