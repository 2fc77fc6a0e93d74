"""The API request log's middleware: one row per `/api/` request, taken once its response is complete.

Complete means produced or, for a streamed response, closed by the server after its last
chunk. The row goes to the process's writer (`analytics.requestlog.writer`), off the request's
path: a request never waits for the database.
"""

import json
import time
from datetime import datetime

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from analytics.models import RequestLog
from analytics.requestlog.redaction import redacted_query
from analytics.requestlog.selectors import SUCCESS_BELOW_STATUS
from analytics.requestlog.writer import in_flight, logger, writer
from config.api.views import api_not_found
from credits.auth import ApiPrincipal

API_PREFIX = "/api/"
_PREFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_KEY_PREFIX_LENGTH = RequestLog._meta.get_field("key_prefix").max_length
_ROUTE_LENGTH = RequestLog._meta.get_field("route").max_length
_METHOD_LENGTH = RequestLog._meta.get_field("method").max_length
_REQUEST_ID_LENGTH = RequestLog._meta.get_field("request_id").max_length
_CODE_LENGTH = RequestLog._meta.get_field("code").max_length
_MESSAGE_LENGTH = RequestLog._meta.get_field("message").max_length
_QUERY_LENGTH = RequestLog._meta.get_field("query").max_length
ERROR_BODY_MAX_BYTES = 16_384  # an error body is a few hundred bytes; a larger one is not parsed on the request's path


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


def _request_id(request, response) -> str:
    """The response's Request-Id header, or the request's own id where the header is added outside this middleware."""
    request_id = response.headers.get("Request-Id") or getattr(request, "request_id", None) or ""
    return str(request_id)[:_REQUEST_ID_LENGTH]


def _error_body(response) -> dict | None:
    """The error's JSON body: a DRF response's data, or a small JSON body parsed; None for anything else."""
    data = getattr(response, "data", None)
    if data is None and not response.streaming and response.get("Content-Type", "").startswith("application/json"):
        content = response.content
        if len(content) <= ERROR_BODY_MAX_BYTES:
            try:
                data = json.loads(content)
            except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
                return None
    return data if isinstance(data, dict) else None


def _failure(request, response) -> dict:
    """A failed request's error code and message, and its query string with secrets redacted."""
    body = _error_body(response) or {}
    code, message = body.get("code"), body.get("message")
    return {
        "code": code[:_CODE_LENGTH] if isinstance(code, str) else "",
        "message": message[:_MESSAGE_LENGTH] if isinstance(message, str) else "",
        "query": redacted_query(request.META.get("QUERY_STRING", ""), limit=_QUERY_LENGTH),
    }


def _row(request, response, *, arrived: datetime, started: float, concurrency: int) -> dict:
    """The row's field values (a dict costs a microsecond; a model instance ten)."""
    row = {
        "time": arrived,
        "method": request.method[:_METHOD_LENGTH],
        "route": _route(request),
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000),
        "in_flight": concurrency,
        "request_id": _request_id(request, response),
        **_caller(request),
    }
    if response.status_code >= SUCCESS_BELOW_STATUS:  # a failure also keeps what its error said, and what was asked
        row.update(_failure(request, response))
    return row


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
