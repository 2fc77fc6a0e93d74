import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings

from analytics.models import DirtyBucket
from analytics.services import buckets_mark_dirty
from analytics.tasks import rollup_dirty_buckets
from config.celery import app
from tests.analytics.test_worker import CELERY, ROOT, die_with_parent, server_connections, worker_database_url
from tests.factories import OutletFactory
from tests.outages import REDIS_SERVER, RedisServer, broker_at
from tests.worker_tasks import nap


def test_without_redis_url_tasks_run_eagerly():
    if settings.REDIS_URL:
        assert app.conf.task_always_eager is False and app.conf.broker_url == settings.REDIS_URL
    else:
        assert app.conf.task_always_eager is True


# The names queued tasks and beat entries were given before the modules moved: they must keep working.
TASK_NAMES = {
    "analytics.tasks.rollup_dirty_buckets", "analytics.tasks.rebuild_rollups", "analytics.tasks.purge_request_log",
    "credits.tasks.send_alert_email", "credits.tasks.deliver_alert_webhook", "credits.tasks.check_low_balances",
    "credits.tasks.expire_grants", "credits.tasks.expire_holds",
}


def test_every_task_keeps_its_name_and_every_beat_entry_names_a_registered_task():
    ours = {name for name in app.tasks if not name.startswith("celery.") and not name.startswith("tests.")}

    assert ours == TASK_NAMES
    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= ours


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


@pytest.mark.postgres
@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server: the test stops and starts a broker of its own")
def test_a_worker_rides_out_a_broker_outage_with_a_task_in_flight_and_runs_the_next_build(transactional_db, tmp_path):
    broker = RedisServer(tmp_path)
    broker.start()
    name = f"outage-{uuid.uuid4().hex[:8]}"
    application_name = f"ledgerline-test-{name}"
    log = tmp_path / f"{name}.log"
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": worker_database_url(application_name), "REDIS_URL": broker.url,
    }
    # `make worker` as in production (the prefork pool, more than one process), and a task of the tests' own to
    # hold in flight: a broker lost under it ended kombu 5.7's worker (AttributeError 'hostname').
    command = [str(CELERY), "-A", "config", "worker", "--concurrency", "2", "--include", "tests.worker_tasks",
               "-n", f"{name}@%h", "--loglevel", "info"]
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent,
        )

    def alive() -> bool:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}):\n{log.read_text(errors='replace')[-6000:]}")
        return True

    def logged(text: str) -> bool:
        return alive() and text in log.read_text(errors="replace")

    def wait_until(condition, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, f"no {what} within 60 s:\n{log.read_text(errors='replace')[-6000:]}"
            time.sleep(0.05)

    outlet = OutletFactory()
    try:
        with broker_at(broker.url):
            wait_until(lambda: logged(" ready."), "worker ready")
            nap.delay(3)
            wait_until(lambda: logged("tests.worker_tasks.nap["), "task received")
            time.sleep(1)
            broker.stop()  # a crash, with the task in flight and unacknowledged
            wait_until(lambda: logged("Connection to broker lost"), "notice of the lost broker")
            wait_until(lambda: logged(" succeeded in "), "end of the task in flight")
            time.sleep(1)
            assert alive()
            broker.start()
            wait_until(lambda: logged("Connected to") and log.read_text().count("Connected to") >= 2, "reconnection")

            # Usage marked during the outage; the beat's next run (published as beat does) builds it.
            buckets_mark_dirty(outlet_id=outlet.pk, hours=[datetime(2026, 6, 1, 5, tzinfo=UTC)])
            rollup_dirty_buckets.apply_async(expires=55)
            wait_until(lambda: alive() and not DirtyBucket.objects.filter(outlet=outlet).exists(), "build after the outage")
        assert logged(f"Task {rollup_dirty_buckets.name}[") and alive()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        broker.stop()
        deadline = time.monotonic() + 30
        while server_connections(application_name) and time.monotonic() < deadline:
            time.sleep(0.05)
