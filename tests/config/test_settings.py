import io
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import RequestFactory

from config.settings import env_bool, env_int, env_list
from tests.factories import create_api_key


def test_models_and_migrations_agree(db):
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("0", False), ("", True), ("Yes", True)])
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", True) is expected


def test_bad_env_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False)
    monkeypatch.setenv("COUNT", "many")
    with pytest.raises(ImproperlyConfigured, match="COUNT"):
        env_int("COUNT", 1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


@pytest.mark.postgres
def test_postgresql_connections_get_the_configured_work_mem(db, settings):
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] == f"{settings.DATABASE_WORK_MEM_MB}MB"


def wsgi_get(path: str, **headers) -> tuple[str, bytes]:
    """A request through Django's real WSGI handler, whose request_started checks pooled connections (the test
    client skips that check); the status line and body."""
    environ = RequestFactory().get(path, **headers).environ
    answered = {}
    body = b"".join(WSGIHandler()(environ, lambda status, headers: answered.setdefault("status", status)))
    return answered["status"], body


@pytest.mark.postgres
def test_the_first_request_after_a_postgresql_restart_succeeds_on_a_new_connection(transactional_db, outlet):
    _, raw_key = create_api_key(outlet=outlet, scopes=["read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    assert wsgi_get("/api/v1/outlets/", **auth)[0] == "200 OK"
    assert connection.settings_dict["CONN_MAX_AGE"] > 0 and connection.connection is not None  # pooled, kept
    pid = connection.connection.info.backend_pid

    killer = connections.create_connection(DEFAULT_DB_ALIAS)  # as a restart would: the server ends our backend
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if not cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
    finally:
        killer.close()

    status, body = wsgi_get("/api/v1/outlets/", **auth)
    assert status == "200 OK", body
    assert connection.connection.info.backend_pid != pid
