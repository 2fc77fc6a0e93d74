"""The API request log's middleware: one row per `/api/` request, taken once its response is complete.

Complete means produced or, for a streamed response, closed by the server after its last
chunk. The row goes to the process's writer (`analytics.requestlog.writer`), off the request's
path: a request never waits for the database.
"""

import time
from datetime import datetime

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from analytics.models import RequestLog
from analytics.requestlog.writer import in_flight, logger, writer
from config.api.views import api_not_found
from credits.auth import ApiPrincipal

API_PREFIX = "/api/"
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_KEY_PREFIX_LENGTH = RequestLog._meta.get_field("key_prefix").max_length
_ROUTE_LENGTH = RequestLog._meta.get_field("route").max_length
_METHOD_LENGTH = RequestLog._meta.get_field("method").max_length


# --- the row -------------------------------------------------------------------------------------

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


# --- the middleware ------------------------------------------------------------------------------

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
