"""The API request log's per-process state: the requests in flight and the buffer of rows with its writer thread.

The middleware hands each row to the process's `RequestLogWriter`, an in-memory buffer. A
writer thread stores the buffer with one `bulk_create` every `REQUEST_LOG_FLUSH_SECONDS`, or
sooner once `REQUEST_LOG_FLUSH_ROWS` rows wait, and once more when the process exits. A
request never waits for the database, and a failed write is logged, never raised: the rows of
that batch are lost.

With `REQUEST_LOG_FLUSH_SECONDS = 0` there is no thread: rows wait for `flush()` (tests do
this, since a thread's own database connection would race the test's transaction).

`in_flight` counts the requests this process is serving when one arrives, itself included:
with several server processes, each counts its own, so it is the process's concurrency.
"""

import atexit
import logging
import os
import threading

from django.conf import settings
from django.db import close_old_connections, connections

from analytics.models import RequestLog

# One logger for the request log, by the name it has always had: what operators filter logs on.
logger = logging.getLogger("analytics.request_log")


# --- requests in flight --------------------------------------------------------------------------

class InFlight:
    """An atomic count of the requests this process is serving."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def enter(self) -> int:
        """Counts a request in; the count with it."""
        with self._lock:
            self.value += 1
            return self.value

    def leave(self) -> None:
        with self._lock:
            self.value -= 1


in_flight = InFlight()


# --- the buffer and its writer -------------------------------------------------------------------

class RequestLogWriter:
    """Rows waiting to be stored, and the thread that stores them in batches."""

    def __init__(self):
        self._exit_hook = False
        self._reset()

    def _reset(self) -> None:
        """No rows and no thread: a new writer, or a forked child's copy of its parent's."""
        self._lock = threading.Lock()
        self._rows: list[dict] = []  # field values: the model instances are built by the writer, off the request
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.dropped = 0  # rows refused since the last successful write, the buffer being full

    def add(self, row: dict) -> None:
        with self._lock:
            if len(self._rows) >= settings.REQUEST_LOG_MAX_BUFFERED:
                self.dropped += 1
                if self.dropped == 1:
                    logger.warning("Request log buffer full (%d rows): dropping rows until it drains.", len(self._rows))
                return
            self._rows.append(row)
            waiting = len(self._rows)
        if settings.REQUEST_LOG_FLUSH_SECONDS > 0:
            self._start()
            if waiting >= settings.REQUEST_LOG_FLUSH_ROWS:
                self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def discard(self) -> int:
        """Forgets the waiting rows (tests: rows of earlier tests); how many there were."""
        with self._lock:
            rows, self._rows = self._rows, []
            self.dropped = 0
        return len(rows)

    def flush(self) -> int:
        """Stores the waiting rows with one bulk insert in the caller's thread; how many were stored.

        Never raises: a database error is logged and the batch is dropped (holding it for a
        retry would grow the buffer while the database is down).
        """
        with self._lock:
            rows, self._rows = self._rows, []
            dropped, self.dropped = self.dropped, 0
        if dropped:
            logger.warning("Request log dropped %d rows while its buffer was full.", dropped)
        if not rows:
            return 0
        try:
            RequestLog.objects.bulk_create(
                [RequestLog(**row) for row in rows], batch_size=settings.REQUEST_LOG_FLUSH_ROWS
            )
        except Exception:
            logger.exception("Request log: could not store %d rows; they are lost.", len(rows))
            return 0
        return len(rows)

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._wake.clear()
            self._thread = threading.Thread(target=self._run, name="request-log-writer", daemon=True)
            self._thread.start()
            if not self._exit_hook:
                atexit.register(self._at_exit)
                self._exit_hook = True

    def _run(self) -> None:
        try:
            while not self._stopping and settings.REQUEST_LOG_FLUSH_SECONDS > 0:
                self._wake.wait(timeout=settings.REQUEST_LOG_FLUSH_SECONDS)
                self._wake.clear()
                if self._stopping:
                    return
                close_old_connections()  # the thread's own connection: dropped if broken or past CONN_MAX_AGE
                self.flush()
        except Exception:
            logger.exception("Request log writer stopped; the next request starts another.")
        finally:
            connections.close_all()  # this thread's connections only

    def stop(self, timeout: float | None = None) -> None:
        """Ends the writer thread without a last write (tests); the next row starts a new one."""
        thread = self._thread
        self._stopping = True
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _at_exit(self) -> None:
        # Only where the thread writes: under tests the rows left are other tests', for a database now gone.
        if settings.REQUEST_LOG_FLUSH_SECONDS > 0:
            self.flush()

    def _after_fork(self) -> None:
        """A forked child (a server's worker) starts with no rows and no thread of its parent's."""
        self._reset()
        in_flight.reset()


writer = RequestLogWriter()
os.register_at_fork(after_in_child=writer._after_fork)


def flush() -> int:
    """Stores every waiting row now; how many were stored."""
    return writer.flush()
