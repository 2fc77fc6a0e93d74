"""The request log's writer: rows stored in batches, off the request, never raising."""

import logging
import threading

from django.db import DatabaseError

from analytics.models import RequestLog
from analytics.requestlog.writer import flush, writer
from tests.analytics.requestlog.conftest import LOG, stored


def test_a_database_error_while_writing_is_logged_not_raised(key_client, monkeypatch, caplog):
    key_client("read").get(LOG)
    key_client("read").get(LOG)

    def unavailable(*args, **kwargs):
        raise DatabaseError("the database is down")

    monkeypatch.setattr(RequestLog.objects, "bulk_create", unavailable)
    with caplog.at_level(logging.ERROR, logger="analytics.request_log"):
        assert flush() == 0
    assert "could not store 2 rows" in caplog.text
    assert writer.pending() == 0  # dropped, not held to grow while the database is down


def test_a_full_buffer_drops_new_rows(key_client, settings, caplog):
    settings.REQUEST_LOG_MAX_BUFFERED = 2
    client = key_client("read")
    with caplog.at_level(logging.WARNING, logger="analytics.request_log"):
        for _ in range(4):
            assert client.get(LOG).status_code == 200
        assert writer.pending() == 2 and writer.dropped == 2
        assert len(stored()) == 2
    assert "dropped 2 rows" in caplog.text


def test_the_writer_thread_stores_rows_in_one_batch_per_flush(key_client, settings, monkeypatch):
    settings.REQUEST_LOG_FLUSH_SECONDS = 60
    settings.REQUEST_LOG_FLUSH_ROWS = 3
    batches, written = [], threading.Event()

    def bulk_create(rows, **kwargs):  # no database: the thread's own connection would race this test's
        batches.append([row.route for row in rows])
        written.set()

    monkeypatch.setattr(RequestLog.objects, "bulk_create", bulk_create)
    client = key_client("read")
    for _ in range(2):
        client.get(LOG)
    assert writer.pending() == 2 and not batches  # below FLUSH_ROWS and before FLUSH_SECONDS: waiting
    client.get(LOG)  # the third wakes the writer
    assert written.wait(5)
    assert batches == [["api/v1/request-log/"] * 3] and writer.pending() == 0
