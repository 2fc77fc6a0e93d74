"""The PostgreSQL backend's health check: a pooled connection the server ended is replaced, a live one costs nothing."""

import pytest
from django.db import connection

from config.postgresql import base
from tests.outages import end_backend

pytestmark = [pytest.mark.postgres]


def checked() -> None:
    """The check Django runs before a request's first query."""
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def refuse_round_trips(monkeypatch):
    monkeypatch.setattr(connection, "is_usable", lambda: pytest.fail("a SELECT 1 was sent"))


def test_a_live_idle_connection_checked_moments_ago_is_kept_without_a_round_trip(transactional_db, monkeypatch):
    connection.ensure_connection()
    checked()  # the previous request's check
    pid = connection.connection.info.backend_pid
    refuse_round_trips(monkeypatch)
    checked()
    assert connection.connection is not None and connection.connection.info.backend_pid == pid


def test_a_connection_the_server_ended_is_closed_and_the_next_query_opens_another(transactional_db, monkeypatch):
    monkeypatch.setattr(base, "QUIET_CHECK_SECONDS", 3600)  # however long the server takes to end it
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    end_backend(pid)
    refuse_round_trips(monkeypatch)
    checked()
    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_a_connection_left_inside_a_transaction_is_closed(transactional_db, monkeypatch):
    monkeypatch.setattr(base, "QUIET_CHECK_SECONDS", 3600)
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    checked()
    assert connection.connection is None


def test_a_connection_quiet_for_longer_gets_a_round_trip(transactional_db, monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(base, "QUIET_CHECK_SECONDS", 0)
    sent = []
    monkeypatch.setattr(connection, "is_usable", lambda: sent.append("SELECT 1") or True)
    checked()
    assert sent == ["SELECT 1"] and connection.connection is not None
