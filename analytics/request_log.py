"""The API request log: a middleware that records every `/api/` request, off the request's path.

The middleware takes one row per request once its response is complete (produced; for a
streamed response, closed by the server after its last chunk) and hands it to the
process's `RequestLogWriter`, an in-memory buffer. A writer thread stores the buffer with one
`bulk_create` every `REQUEST_LOG_FLUSH_SECONDS`, or sooner once `REQUEST_LOG_FLUSH_ROWS`
rows wait, and once more when the process exits. A request never waits for the database,
and a failed write is logged, never raised: the rows of that batch are lost.

With `REQUEST_LOG_FLUSH_SECONDS = 0` there is no thread: rows wait for `flush()` (tests do
this, since a thread's own database connection would race the test's transaction).

`in_flight` counts the requests this process is serving when one arrives, itself included:
with several server processes, each counts its own, so it is the process's concurrency.
"""

import atexit
import logging
import os
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import close_old_connections, connections
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from analytics.models import RequestLog
from config.api.views import api_not_found
from credits.auth import ApiPrincipal

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
PURGE_BATCH = 10_000
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_KEY_PREFIX_LENGTH = RequestLog._meta.get_field("key_prefix").max_length
_ROUTE_LENGTH = RequestLog._meta.get_field("route").max_length
_METHOD_LENGTH = RequestLog._meta.get_field("method").max_length


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


# --- the middleware ------------------------------------------------------------------------------

def _route(request) -> str:
    """The URL pattern that matched, e.g. `api/v1/usage/records/<int:pk>/`; a fixed label when none did."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.func is api_not_found:  # config.urls' JSON 404 for anything else under /api/
        return RequestLog.UNMATCHED_ROUTE
    return match.route[:_ROUTE_LENGTH]


def _claimed_prefix(request) -> str:
    """For a rejected key, the prefix its `Authorization: Bearer prefix.secret` claimed (letters and digits only)."""
    parts = request.headers.get("Authorization", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer" or parts[1].count(".") != 1:
        return ""
    prefix = parts[1].partition(".")[0]
    return prefix if 0 < len(prefix) <= _KEY_PREFIX_LENGTH and set(prefix) <= _PREFIX_CHARS else ""


def _caller(request) -> dict:
    """Outlet, key and staff user of the request, without a query (an unread session stays unread)."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if isinstance(user, ApiPrincipal):
        key = user.api_key
        return {"outlet_id": key.outlet_id, "api_key_id": key.pk, "key_prefix": key.prefix}
    if user is not None and getattr(user, "is_staff", False):
        return {"user_id": user.pk}
    return {"key_prefix": _claimed_prefix(request)}


def _row(request, response, *, arrived: datetime, started: float, concurrency: int) -> dict:
    """The row's field values (a dict costs a microsecond; a model instance ten)."""
    return {
        "time": arrived,
        "method": request.method[:_METHOD_LENGTH],
        "route": _route(request),
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000),
        "in_flight": concurrency,
        **_caller(request),
    }


class RequestLogMiddleware:
    """Records every request under /api/ once its response is complete; see the module's docstring."""

    def __init__(self, get_response):
        if not settings.REQUEST_LOG_ENABLED:
            raise MiddlewareNotUsed("REQUEST_LOG_ENABLED is off.")
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        arrived, started = timezone.now(), time.perf_counter()
        concurrency = in_flight.enter()
        try:
            response = self.get_response(request)  # Django turns a view's exception into a response
        except BaseException:
            in_flight.leave()
            raise

        def record():
            in_flight.leave()
            try:
                writer.add(_row(request, response, arrived=arrived, started=started, concurrency=concurrency))
            except Exception:
                logger.exception("Request log: could not record %s %s.", request.method, request.path)

        if response.streaming:
            # Once the server has sent the last chunk and closes the response: a CSV's whole export.
            response._resource_closers.append(record)
        else:
            record()
        return response


# --- retention -----------------------------------------------------------------------------------

def request_log_purge(*, before: datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Deletes rows older than `before` (default: REQUEST_LOG_RETENTION_DAYS ago) in batches; how many."""
    if before is None:
        before = timezone.now() - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    deleted = 0
    while True:
        # Oldest first along the (time, id) index; each batch is its own short statement.
        ids = list(
            RequestLog.objects.filter(time__lt=before).order_by("time", "id").values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += RequestLog.objects.filter(id__in=ids).delete()[0]
