import logging
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from config.cache import OncePerInterval
from config.errors import DomainError, PayloadTooLargeError

logger = logging.getLogger(__name__)

# PostgreSQL's "query_canceled": the statement ran past API_STATEMENT_TIMEOUT_MS.
QUERY_CANCELED = "57014"
RETRY_AFTER_SECONDS = 5
# SQLSTATEs a retry may get past: the connection (class 08), the server shutting down or starting (57P01-57P03),
# too many connections (53300), a deadlock or serialization failure (40001, 40P01), the statement timeout.
TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01", QUERY_CANCELED)
_database_unavailable = OncePerInterval(60)


# Each error status's machine-readable `code` (docs/api.md's table): one slug per status, so every path that
# answers an error, in a view or before one, says the same thing. A DomainError may name its own.
ERROR_CODES = {
    400: "invalid_parameter",
    401: "authentication_failed",
    402: "insufficient_credits",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "idempotency_conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_body(message: str, errors: dict | None = None, *, status: int, code: str | None = None) -> dict:
    """The API's error envelope; `code` defaults to the status's slug."""
    return {"success": False, "code": code or ERROR_CODES[status], "message": message, "errors": errors or {}}


def _validation_message(detail) -> str:
    if isinstance(detail, dict):
        parts = []
        for field, messages in detail.items():
            first = messages[0] if isinstance(messages, list) and messages else messages
            if isinstance(first, dict):
                first = _validation_message(first)
            label = "" if field in ("non_field_errors", "detail") else f"{field}: "
            parts.append(f"{label}{first}")
        return "; ".join(parts) or "Invalid input."
    if isinstance(detail, list):
        return "; ".join(str(item) for item in detail) or "Invalid input."
    return str(detail)


def _validation_errors(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _transient(exc: OperationalError | InterfaceError) -> bool:
    """Whether a retry may succeed: the connection or the server failed, a lock or the timeout gave way.

    Other operational errors (a program limit, SQLite's too many variables) are bugs: a 500, logged whole.
    """
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate.startswith(TRANSIENT_SQLSTATES)
    if type(cause).__module__ == "sqlite3":
        return "locked" in str(cause)
    return True  # no SQLSTATE: the server never answered (refused, lost), or Django's own connection error


def unavailable_answer(exc: BaseException | None, where: str) -> tuple[dict, dict] | None:
    """The body and headers of a 503 when `exc` is the database's to blame (unreachable, or a statement timeout), else None.

    A retry may well succeed: the database is back, or less is asked of it; a 500 would say the request was at fault.
    """
    if not isinstance(exc, OperationalError | InterfaceError) or not _transient(exc):
        return None
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
        logger.warning("Statement timeout in %s: %s", where, exc)
        message = (
            f"The request took longer than the API allows ({settings.API_STATEMENT_TIMEOUT_MS} ms of database time): "
            "ask for less, e.g. a shorter date range, or try again later."
        )
        return error_body(message, status=503), headers
    _database_unavailable.warn(logger, "Database unavailable in %s (%s: %s): answering 503.", where, type(exc).__name__, exc)
    return error_body("The database is unavailable; try again shortly.", status=503), headers


def api_exception_handler(exc, context):
    """Every API error, expected or not, as `{"success": false, "code", "message", "errors"}`."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLargeError(f"The body is over {limit} bytes (API_MAX_BODY_BYTES): send smaller batches.")
    if isinstance(exc, DomainError):
        set_rollback()
        body = error_body(exc.message, exc.errors, status=exc.status_code, code=exc.code) | exc.fields
        return Response(body, status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) else None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)

    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))  # whole seconds, never "retry at once"
        if isinstance(exc, exceptions.ValidationError):
            body = error_body(_validation_message(exc.detail), _validation_errors(exc.detail), status=exc.status_code)
        else:
            body = error_body(str(exc.detail), status=exc.status_code)
        set_rollback()
        return Response(body, status=exc.status_code, headers=headers)

    view_name = context.get("view").__class__.__name__
    if unavailable := unavailable_answer(exc, view_name):
        set_rollback()
        body, headers = unavailable
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    logger.exception("Unhandled error in %s", view_name, exc_info=exc)
    set_rollback()
    return Response(error_body("Internal server error.", status=500), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
