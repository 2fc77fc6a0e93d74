"""Rollups built by a real Celery worker on the Redis broker: scheduled by an ingest, and finished after a crash.

Each worker is a subprocess (`celery worker --pool solo`) on this test database, whose data the
test commits (`transactional_db`). The test empties the broker's default queue before and after,
so REDIS_URL must name a Redis database kept for tests (CI uses /15), and kills every worker it
starts, whatever happens.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Trunc
from django.test import override_settings

from analytics.checks import check_rollups
from analytics.facts import USAGE
from analytics.models import DirtyBucket, UsageHourlyRollup
from analytics.services import DAYS_PER_BUILD, ROLLUP_SCHEDULED_KEY, buckets_mark_dirty
from analytics.tasks import rollup_dirty_buckets
from config.celery import app
from credits.services import Actor
from tests.factories import AgentFactory, OutletFactory
from usage.models import UsageRecord
from usage.services import ingest_records

REDIS_DB = (urlparse(settings.REDIS_URL).path.strip("/") or "0") if settings.REDIS_URL else None
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings.REDIS_URL, reason="needs REDIS_URL and PostgreSQL: real Celery workers run in CI's second pass"
    ),
    pytest.mark.skipif(
        REDIS_DB == "0",
        reason="empties the Celery queue of REDIS_URL's database: point it at one kept for tests, e.g. redis://…/15",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
QUEUE = app.conf.task_default_queue
TASK = rollup_dirty_buckets.name
START = datetime(2026, 6, 1, tzinfo=UTC)
# The build killed midway: one light chunk of DAYS_PER_BUILD days, then a heavy one of HEAVY_RECORDS
# records that takes a couple of seconds (about 1 s per 100,000 records), long enough to kill it in.
HEAVY_RECORDS = 200_000
TIMEOUT = 60  # seconds for any one thing the test waits for
# A build deletes and inserts each rollup in turn: this statement runs once the first rollup's rows are in.
SECOND_INSERT = f'INSERT INTO "{USAGE.rollups[1].model._meta.db_table}"'


def timings(**seconds: float) -> None:
    """Printed for the record: pytest -s (or -rP) shows them."""
    print("worker test timings: " + ", ".join(f"{name} {value:.2f} s" for name, value in seconds.items()))


def die_with_parent() -> None:
    """In the worker, between fork and exec: if pytest itself is killed, the kernel kills the worker too."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def worker_database_url(application_name: str) -> str:
    """This test database, for the worker, tagged so its server connections can be found."""
    db = connection.settings_dict
    credentials = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = quote(db["HOST"] or "", safe="") + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}?application_name={application_name}"


def server_connections(application_name: str, running: str = "") -> int:
    """The server connections of a worker; with `running`, those running a statement that starts so."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state LIKE %s AND query LIKE %s",
            [application_name, "active" if running else "%", f"{running}%"],
        )
        return cursor.fetchone()[0]


class Worker:
    """One `celery worker --pool solo` subprocess on the default queue and this test database."""

    def __init__(self, name: str, log_dir: Path):
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"
        self.application_name = f"ledgerline-test-{self.name}"
        self.log = log_dir / f"{self.name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": worker_database_url(self.application_name),
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            str(CELERY), "-A", "config", "worker", "--pool", "solo", "-Q", QUEUE, "-n", f"{self.name}@%h",
            "--loglevel", "info", "--without-gossip", "--without-mingle",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        replies = app.control.ping(timeout=0.5)
        return any(node.startswith(f"{self.name}@") for reply in replies for node in reply)

    def kill(self) -> None:
        """SIGKILL, to the worker's whole process group: nothing it started outlives it."""
        if self.alive():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=TIMEOUT)


def wait_for(condition: Callable[[], bool], what: str, worker: Worker | None = None, poll: float = 0.05) -> float:
    """Seconds until `condition()` holds; fails after TIMEOUT, or at once if the worker died, with its log."""
    started = time.monotonic()
    while not condition():
        if worker is not None and not worker.alive():
            pytest.fail(f"the worker exited ({worker.process.returncode}) before {what}:\n{worker.log_text()[-4000:]}")
        if time.monotonic() - started > TIMEOUT:
            log = f":\n{worker.log_text()[-4000:]}" if worker is not None else ""
            pytest.fail(f"no {what} within {TIMEOUT} s{log}")
        time.sleep(poll)
    return time.monotonic() - started


def queued() -> int:
    with app.connection_for_read() as conn:
        return conn.default_channel.queue_declare(queue=QUEUE).message_count


def unacked() -> int:
    """Messages delivered to a worker and not acknowledged (kombu's Redis transport keeps them in a hash)."""
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        return channel.client.hlen(channel.unacked_key)


def purge_broker() -> None:
    """Empties the default queue and the unacknowledged messages of a killed worker, and the schedule's debounce."""
    app.control.purge()
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        channel.client.delete(channel.unacked_key, channel.unacked_index_key)
    cache.delete(ROLLUP_SCHEDULED_KEY)


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Starts workers on demand; kills each one before the test's data is flushed, then empties the broker."""
    assert CELERY.exists(), f"{CELERY} is missing: `make venv` installs it (celery[redis] in requirements.txt)"
    purge_broker()
    workers: list[Worker] = []

    def start(name: str) -> Worker:
        workers.append(Worker(name, tmp_path))
        return workers[-1]

    try:
        with override_settings(ROLLUP_ON_INGEST=True):
            yield start
    finally:
        try:
            for worker in workers:
                worker.kill()
            for worker in workers:  # its server connection ends once the statement it was running does
                name = worker.application_name
                wait_for(lambda: not server_connections(name), "end of a killed worker's connection")
        finally:
            purge_broker()


def rollups_match_raw_rows(outlet) -> None:
    assert not DirtyBucket.objects.filter(outlet=outlet).exists()
    assert check_rollups().problems == []
    rolled = UsageHourlyRollup.objects.filter(outlet=outlet).aggregate(records=Sum("records"))["records"]
    assert rolled == UsageRecord.objects.filter(outlet=outlet).count() > 0


def test_an_ingest_schedules_a_build_after_its_commit_and_a_worker_runs_it(start_worker):
    outlet = OutletFactory()
    agent = AgentFactory(outlet=outlet)
    records = [
        {
            "event_id": f"evt-{index}", "agent_id": str(agent.pk), "type": "CONVERSATION", "unit": "tokens",
            "model": "gpt-4o", "count": 100 + index, "credits": "0.125", "cost_usd": "0.00012345",
            "latency_ms": 40 * index, "occurred_at": (START + timedelta(hours=5 * index)).isoformat(),
        }
        for index in range(30)
    ]

    with transaction.atomic():
        ingest_records(outlet=outlet, records=records, actor=Actor.system("tests"))
        assert queued() == 0  # nothing is enqueued before the records are committed
    assert queued() == 1
    assert DirtyBucket.objects.filter(outlet=outlet).count() == 30
    assert not UsageHourlyRollup.objects.exists()

    began = time.monotonic()
    worker = start_worker("ingest")
    built = wait_for(lambda: not DirtyBucket.objects.filter(outlet=outlet).exists(), "build", worker)
    wait_for(worker.ready, "answer to ping", worker, poll=0)
    ready = time.monotonic() - began

    rollups_match_raw_rows(outlet)
    assert queued() == 0
    assert f"Task {TASK}[" in worker.log_text() and " succeeded in " in worker.log_text()
    timings(worker_start_to_built=built, worker_start_to_ping_answered=ready)


def insert_usage(outlet, agents, *, first_day: datetime, days: int, count: int, prefix: str) -> None:
    """`count` records spread evenly over `days`, in one INSERT ... SELECT (the API would take minutes for this many;
    nobody's credits are debited)."""
    generated = {
        "outlet_id": ("%s", [outlet.pk]),
        "agent_id": ("(%s::uuid[])[1 + i %% %s]", [[agent.pk for agent in agents], len(agents)]),
        "event_id": ("%s || i", [prefix]),
        "type": ("(ARRAY['CONVERSATION', 'TTS', 'TELEPHONY'])[1 + i %% 3]", []),
        "unit": ("(ARRAY['tokens', 'characters', 'seconds'])[1 + i %% 3]", []),
        "model": ("(ARRAY['gpt-4o', 'gpt-4o-mini'])[1 + i %% 2]", []),
        "voice": ("(ARRAY['', 'alloy', 'nova'])[1 + i %% 3]", []),
        "product": ("(ARRAY['a', 'b'])[1 + i %% 2]", []),
        "api_key_label": ("(ARRAY['k1', 'k2'])[1 + i %% 2]", []),
        "count": ("(i * 7) %% 5000", []),
        "credits": ("((i * 7919) %% 10000000) / 1000000.0", []),
        "cost_usd": ("((i * 104729) %% 100000000) / 100000000.0", []),
        "latency_ms": ("CASE WHEN i %% 5 = 0 THEN NULL ELSE (i * 31) %% 200000 END", []),
        "ingest_batch_id": ("%s", [uuid.uuid4()]),
        "occurred_at": ("%s + make_interval(secs => i * %s / %s)", [first_day, days * 86400.0, count]),
    }
    columns, expressions, params = [], [], []
    for model_field in UsageRecord._meta.concrete_fields:
        if model_field.primary_key or model_field.name == "created_at":  # the database fills these
            continue
        columns.append(model_field.column)
        expression, values = generated.get(model_field.attname, ("%s", None))
        expressions.append(expression)
        params.extend(values if values is not None else [model_field.get_db_prep_save(model_field.get_default(), connection)])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {UsageRecord._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(expressions)} FROM generate_series(0::bigint, %s - 1) AS i",
            [*params, count],
        )


def mark_usage_dirty(outlet) -> None:
    """Marks every hour of the outlet's usage dirty, as an ingest marks the hours of what it stores."""
    hours = UsageRecord.objects.filter(outlet=outlet).annotate(hour=Trunc("occurred_at", "hour", tzinfo=UTC))
    buckets_mark_dirty(outlet_id=outlet.pk, hours=list(hours.values_list("hour", flat=True).distinct()))


def test_a_build_killed_midway_leaves_consistent_rollups_and_the_next_worker_finishes_it(start_worker):
    outlet = OutletFactory()
    agents = [AgentFactory(outlet=outlet) for _ in range(3)]
    heavy_day = START + timedelta(days=DAYS_PER_BUILD)
    began = time.monotonic()
    with transaction.atomic():  # one commit, so one scheduled run, however long the insert takes
        insert_usage(outlet, agents, first_day=START, days=DAYS_PER_BUILD, count=DAYS_PER_BUILD, prefix="light-")
        insert_usage(outlet, agents, first_day=heavy_day, days=DAYS_PER_BUILD, count=HEAVY_RECORDS, prefix="heavy-")
        mark_usage_dirty(outlet)
    inserted = time.monotonic() - began

    def marks() -> int:
        return DirtyBucket.objects.filter(outlet=outlet).count()

    heavy_marks = DirtyBucket.objects.filter(outlet=outlet, hour__gte=heavy_day).count()
    assert marks() == DAYS_PER_BUILD + heavy_marks
    assert queued() == 1  # the marks' commit scheduled a run

    first = start_worker("killed")
    picked_up = wait_for(lambda: marks() == heavy_marks, "commit of the light chunk", first, poll=0.01)
    # Kill once the heavy chunk's transaction holds one rollup's new rows and is inserting the next one's
    # (or, on a machine fast enough to build it before that is seen, as soon as it is done: the test then fails).
    inserting = wait_for(
        lambda: server_connections(first.application_name, SECOND_INSERT) or marks() < heavy_marks,
        "second insert", first, poll=0.01,
    )
    first.kill()
    ended = wait_for(lambda: not server_connections(first.application_name), "end of the killed worker's connection")

    # The heavy chunk's transaction was rolled back whole: its days are still dirty, and so read from raw rows.
    assert marks() == heavy_marks, "the build finished before the kill: raise HEAVY_RECORDS"
    assert check_rollups().problems == []
    for rollup in USAGE.rollups:
        assert rollup.model.objects.filter(outlet=outlet, bucket__lt=heavy_day).exists()
        assert not rollup.model.objects.filter(outlet=outlet, bucket__gte=heavy_day).exists()
    assert (queued(), unacked()) == (0, 1)  # acks_late: the killed run's message is kept, not acknowledged

    second = start_worker("next")
    began = time.monotonic()
    rollup_dirty_buckets.delay()
    wait_for(lambda: not marks(), "build by the next worker", second)
    finished = time.monotonic() - began

    rollups_match_raw_rows(outlet)
    timings(
        insert_records=inserted, first_worker_start_to_light_chunk=picked_up, then_to_second_insert=inserting,
        killed_statement_ran_on=ended, next_worker_start_to_built=finished,
    )
