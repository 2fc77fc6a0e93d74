"""`make serve`: gunicorn with config/gunicorn.py, started as the Makefile starts it."""

import http.client
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.outages import free_port

ROOT = Path(settings.BASE_DIR)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    # As behind the TLS-ending proxy production has: plain http would be redirected to https.
    connection.request("GET", path, headers={"X-Forwarded-Proto": "https", **(headers or {})})
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


@pytest.fixture
def server(tmp_path):
    """gunicorn on a free port, on an SQLite file of its own, its log captured; stopped after the test."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="gunicorn-test-secret-key-of-sufficient-length",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", SERVER_WORKERS="2", SERVER_TIMEOUT_SECONDS="20",
        REQUEST_LOG_ENABLED="false", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    log = open(tmp_path / "gunicorn.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            get(port, "/healthz")
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield port, tmp_path / "gunicorn.log"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_the_server_starts_its_workers_from_the_settings_and_answers(server):
    port, log_path = server
    assert get(port, "/healthz")[0] == 200
    status, content_type, _ = get(port, "/api/v1/outlets/")
    assert (status, content_type) == (401, "application/json")
    assert log_path.read_text().count("Booting worker") == 2


def test_the_access_log_holds_no_query_string_and_no_credentials(server):
    port, log_path = server
    get(port, "/api/v1/usage/records/?cursor=SECRET-CURSOR", headers={"Authorization": "Basic SECRET-KEY"})
    time.sleep(0.5)  # the access log line is written after the answer
    log = log_path.read_text()
    assert '"GET /api/v1/usage/records/ HTTP/1.1" 401' in log
    assert "SECRET" not in log


def test_workers_are_threaded_so_a_long_export_is_not_killed_at_the_timeout():
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert config["worker_class"] == "gthread" and config["threads"] == settings.SERVER_THREADS
    assert config["keepalive"] == 0  # kept-alive clients would crowd the worker that accepted them
