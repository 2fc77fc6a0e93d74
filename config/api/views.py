import sys
from datetime import UTC, tzinfo

import redis
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import JsonResponse
from django.urls import reverse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import schema  # noqa: F401 - registers the auth schemes with drf-spectacular
from config.api.csv import FORMAT_PARAMETER, csv_response, parse_format, queryset_csv_lines
from config.api.dates import DATE_RANGE_PARAMETERS, parse_date_range
from config.api.envelope import EnvelopeJSONRenderer
from config.api.exceptions import error_body, unavailable_answer
from config.api.fields import canonical_choice
from config.api.middleware import API_PREFIX
from config.api.pagination import KeysetPagination, parse_order

# Staff choose the outlet an answer covers; an API key always gets its own (DESIGN "API").
STAFF_PARAMETERS = frozenset({"outlet_id"})
DATE_RANGE_NAMES = frozenset(parameter["name"] for parameter in DATE_RANGE_PARAMETERS)
# A list over every outlet has no one outlet's calendar: its dates are UTC (an analytics answer adds each outlet's).
LIST_DATE_RANGE_PARAMETERS = [
    {**parameter, "description": f"{parameter['description']} Staff without outlet_id: a UTC date."}
    if parameter["name"] in ("start_date", "end_date") else parameter
    for parameter in DATE_RANGE_PARAMETERS
]


def refuse_unknown_parameters(params, known: set[str]) -> None:
    """A query parameter nothing reads is a 400 naming it, as an unknown body field is: a misspelt filter
    would otherwise answer unfiltered. `name[key]` belongs to `name` (`meta[channel]` to `meta`)."""
    unknown = sorted(name for name in params if name not in known and name.split("[", 1)[0] not in known)
    if unknown:
        hint = f"Unknown query parameter; this endpoint takes {', '.join(sorted(known)) or 'none'}."
        raise ValidationError({name: [hint] for name in unknown})


class KnownQueryParametersMixin:
    """A GET takes only the query parameters its view declares (`query_parameters`), plus staff's `outlet_id`."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            known = self.query_parameters() | (STAFF_PARAMETERS if request.user.is_staff else set())
            refuse_unknown_parameters(request.query_params, known)

    def query_parameters(self) -> set[str]:
        """The names the view reads from the query string."""
        return set()


class DateRangeFilterBackend(BaseFilterBackend):
    """Filters the view's `date_field` to the requested range (default: the last 30 days), read as dates of the
    view's `date_zone`."""

    def filter_queryset(self, request, queryset, view):
        field = getattr(view, "date_field", None)
        if not field:
            return queryset
        date_range = parse_date_range(request.query_params, zone=view.date_zone(request))
        return queryset.filter(**{f"{field}__gte": date_range.start_at, f"{field}__lt": date_range.end_before})

    def get_schema_operation_parameters(self, view):
        return LIST_DATE_RANGE_PARAMETERS if getattr(view, "date_field", None) else []


class ApiListView(KnownQueryParametersMixin, ListAPIView):
    """A filtered list: a cursor page as JSON, or the whole list as streamed CSV (scoped by `credits.scoping`)."""

    pagination_class = KeysetPagination
    filter_backends = [DjangoFilterBackend, DateRangeFilterBackend]
    cursor_fields: tuple[str, ...] = ("created_at", "id")
    date_field: str | None = None
    csv_filename = "export"

    def query_parameters(self) -> set[str]:
        """The pagination's, each filter backend's and the filterset's parameters, and `format`."""
        declared = list(self.paginator.get_schema_operation_parameters(self)) if self.paginator else []
        for backend in self.filter_backends:
            if not issubclass(backend, DjangoFilterBackend):  # its schema asks for the queryset; the filterset says it
                declared += backend().get_schema_operation_parameters(self)
        filterset = getattr(self, "filterset_class", None)
        return {FORMAT_PARAMETER.name, *(parameter["name"] for parameter in declared), *(filterset.base_filters if filterset else ())}

    def date_zone(self, request) -> tzinfo:
        """Whose dates the date filter reads and whose offset the CSV's times carry: UTC here; a list scoped to
        one outlet answers in its zone (`credits.scoping`)."""
        return UTC

    def extra_payload(self, queryset) -> dict:
        """Anything the JSON page carries besides `items` and `cursor`, computed over the whole filter."""
        return {}

    @extend_schema(parameters=[FORMAT_PARAMETER])
    def get(self, request, *args, **kwargs):
        export_format = parse_format(request.query_params)
        queryset = self.filter_queryset(self.get_queryset())
        if export_format == "csv":
            return self.csv_export(queryset)
        page = self.paginate_queryset(queryset)
        response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        response.data.update(self.extra_payload(queryset))
        return response

    def csv_export(self, queryset):
        prefix = "-" if parse_order(self.request.query_params) == "desc" else ""
        ordered = queryset.order_by(*(prefix + name for name in self.cursor_fields))
        lines = queryset_csv_lines(ordered, self.get_serializer, zone=self.date_zone(self.request))
        return csv_response(lines, self.csv_filename)


class SchemaView(KnownQueryParametersMixin, SpectacularAPIView):
    """The OpenAPI document, YAML unless `?format=json` or `Accept` asks for JSON; `lang` as drf-spectacular reads it.

    Any other query parameter is a 400 naming it, as at every endpoint (drf-spectacular's `version` would only
    relabel the document: the API has one version), and an error is JSON, never a YAML document.
    """

    formats = ("yaml", "json")

    def query_parameters(self) -> set[str]:
        return {"format", "lang"}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        fmt = request.query_params.get("format")
        if fmt and canonical_choice(fmt, self.formats) not in self.formats:
            raise ValidationError({"format": [f"Must be 'yaml' or 'json', not '{fmt}'."]})

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = EnvelopeJSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class ApiIndexView(KnownQueryParametersMixin, APIView):
    """`/api`, `/api/` and `/api/v1/`: where the docs and the schema are, for a person or a program trying the root.

    Open to anyone (what it says is public); a write to it is a 405, as to any endpoint that only reads.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)  # the way in, not an operation of the API
    def get(self, request):
        link = request.build_absolute_uri
        return Response({
            "message": "The Ledgerline API. Read the docs, or generate a client from the OpenAPI schema.",
            "docs": link(reverse("api-docs")),
            "schema": link(reverse("api-schema")),
            "versions": {"v1": link(f"{API_PREFIX}v1/")},
        })


@csrf_exempt  # whatever the method: a POST to no endpoint is a 404, not a CSRF failure
def api_not_found(request, exception=None):
    return JsonResponse(error_body(f"No API endpoint at {request.path}.", status=404), status=404)


def bad_request(request, exception=None):
    """A JSON 400 under /api/ (a Host not in ALLOWED_HOSTS, a body Django refuses), Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        if isinstance(exception, DisallowedHost):
            message = "The Host header names a host this server does not serve."
        else:
            message = f"Bad request: {exception or 'refused'}."
        return JsonResponse(error_body(message, status=400), status=400)
    return defaults.bad_request(request, exception)


def server_error(request):
    """A JSON 500 under /api/ (a 503 when the database is to blame, as in a view), Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        if unavailable := unavailable_answer(sys.exc_info()[1], request.path):  # Django calls this inside its except
            body, headers = unavailable
            return JsonResponse(body, status=503, headers=headers)
        return JsonResponse(error_body("Internal server error.", status=500), status=500)
    return defaults.server_error(request)


def healthz(request):
    """Database and broker reachable, each reported; 503 only when the database fails.

    The API serves without Redis (the cache misses, rollups wait for the broker), so a broker outage is
    `"degraded": true` on a 200: a load balancer keeps the instance, an alert can still fire on it.
    """
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            timeout = settings.REDIS_TIMEOUT_MS / 1000
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
            checks["broker"] = "ok"
        except redis.RedisError as exc:
            checks["broker"] = f"error: {exc.__class__.__name__}"
    else:
        checks["broker"] = "eager (no broker configured)"
    healthy = checks["database"] == "ok"
    degraded = checks["broker"].startswith("error")
    return JsonResponse({"success": healthy, **checks, "degraded": degraded}, status=200 if healthy else 503)
