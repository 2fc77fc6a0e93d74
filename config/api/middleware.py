"""What every request passes at the door: a Request-Id; for the API no NUL in its URL, and PostgreSQL's
statement_timeout for it alone."""

import re
import uuid

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connection
from django.http import JsonResponse

from config.api.exceptions import error_body

API_PREFIX = "/api/"
# A client's own X-Request-Id is echoed only when it is a plain token: nothing a header or a log line could misread.
SANE_REQUEST_ID = re.compile(r"\A[A-Za-z0-9._-]{1,128}\Z")
# On the connection wrapper: (the DB-API connection, the timeout in ms in effect on it: 0 the default, None unknown).
_IN_EFFECT = "ledgerline_statement_timeout"


def _statement_timeout(db, milliseconds: int) -> None:
    """Makes `milliseconds` (0: the database's default) the session's statement_timeout; a SET only when it differs.

    With CONN_MAX_AGE a connection serves request after request: API requests in a row cost no round
    trip, and a non-API request (the admin, /healthz) on the same connection sets the default back first.
    """
    raw = db.connection
    raw_then, in_effect = getattr(db, _IN_EFFECT, (None, 0))
    if raw_then is not raw:
        in_effect = 0  # a new connection starts at the default
    if in_effect == milliseconds:
        return
    # The DB-API cursor: a Django one would come back through this execute wrapper.
    with db.wrap_database_errors, raw.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(milliseconds)}" if milliseconds else "SET statement_timeout = DEFAULT")
    # Inside a transaction a rollback would undo the SET: what is in effect afterwards is not known.
    setattr(db, _IN_EFFECT, (raw, None if db.in_atomic_block else milliseconds))


class _FirstQuery:
    """An execute wrapper that sets the timeout before the request's first query: a request with none costs nothing."""

    def __init__(self, milliseconds: int):
        self.milliseconds = milliseconds
        self.done = False

    def __call__(self, execute, sql, params, many, context):
        if not self.done:
            self.done = True
            _statement_timeout(context["connection"], self.milliseconds)
        return execute(sql, params, many, context)


class ApiStatementTimeoutMiddleware:
    """Cancels an API request's statement past API_STATEMENT_TIMEOUT_MS (a JSON 503), so no worker is killed for it.

    Background work (Celery builds, commands, migrations) never passes here and is not cut.
    """

    def __init__(self, get_response):
        if not settings.API_STATEMENT_TIMEOUT_MS or connection.vendor != "postgresql":
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        wanted = settings.API_STATEMENT_TIMEOUT_MS if request.path.startswith(API_PREFIX) else 0
        with connection.execute_wrapper(_FirstQuery(wanted)):
            return self.get_response(request)


class RefuseNulInUrlMiddleware:
    """A NUL (`%00`) in an API path or query string is a 400 at the door: no PostgreSQL text can hold one, and
    path segments and query values reach lookups that a serializer never sees."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX) and ("\x00" in request.path or "%00" in request.META.get("QUERY_STRING", "")):
            return JsonResponse(error_body("The URL must not contain the NUL character (%00).", status=400), status=400)
        return self.get_response(request)


class RequestIdMiddleware:
    """Every response carries a `Request-Id`: the client's `X-Request-Id` when it is a sane token, else a new one.

    It is `request.request_id` for whatever logs the request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-Id", "")
        request.request_id = offered if SANE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        response = self.get_response(request)
        response["Request-Id"] = request.request_id
        return response
