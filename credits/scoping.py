"""Which outlet a request may see: its key's outlet, or for staff every outlet or the one asked for."""

from datetime import UTC, tzinfo
from functools import cached_property
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound, ValidationError

from config.api.views import ApiListView
from credits.models import Outlet

OUTLET_PARAMETER = OpenApiParameter(
    "outlet_id",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    description="Staff: one outlet's answer (default: every outlet). An API key always gets its own outlet's.",
)
ONE_OUTLET_PARAMETER = OpenApiParameter(
    "outlet_id",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    description="Staff: required, the one outlet asked about. An API key gets its own outlet's.",
)
WRITE_OUTLET_PARAMETER = OpenApiParameter(
    "outlet_id",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    description="Staff: required, the outlet this write is for. An API key writes to its own outlet.",
)


def _requested_outlet_id(request) -> UUID | None:
    raw = request.query_params.get("outlet_id")
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationError({"outlet_id": [f"'{raw}' is not a valid UUID."]}) from None


def caller_outlet_id(request) -> UUID | None:
    """The outlet the caller acts for; None means every outlet (staff without `outlet_id`)."""
    user = request.user
    if not user.is_staff:
        return user.outlet_id
    outlet_id = _requested_outlet_id(request)
    if outlet_id is not None and not Outlet.objects.filter(pk=outlet_id).exists():
        raise NotFound("Outlet not found.")
    return outlet_id


def caller_zone(request, outlet_id: UUID | None) -> tzinfo:
    """Whose dates the caller's dates are: the outlet's zone, or UTC over every outlet."""
    if outlet_id is None:
        return UTC
    if not request.user.is_staff:
        return request.user.api_key.outlet.zone  # loaded with the key
    return Outlet.objects.only("timezone").get(pk=outlet_id).zone


def caller_outlet(request) -> Outlet:
    """The one outlet a write acts for: the key's (already loaded with it), or for staff the required `outlet_id`."""
    user = request.user
    if not user.is_staff:
        return user.api_key.outlet
    outlet_id = _requested_outlet_id(request)
    if outlet_id is None:
        raise ValidationError({"outlet_id": ["Required for staff: the outlet this write is for."]})
    outlet = Outlet.objects.filter(pk=outlet_id).first()
    if outlet is None:
        raise NotFound("Outlet not found.")
    return outlet


@extend_schema_view(get=extend_schema(parameters=[OUTLET_PARAMETER]))
class ScopedListView(ApiListView):
    """A scoped, filtered list: a cursor page as JSON, or the whole list as streamed CSV."""

    # The docstring above is each list endpoint's description in the OpenAPI schema. Scoped to the
    # caller's outlet, or for staff to every outlet or the one `outlet_id` asks for.

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller to scope to
            return self.get_serializer_class().Meta.model.objects.none()
        return self.scoped_queryset(self.scope_outlet_id)

    @cached_property
    def scope_outlet_id(self) -> UUID | None:
        """`caller_outlet_id`, read once a request: the queryset, the date filter and the CSV each ask."""
        return caller_outlet_id(self.request)

    @cached_property
    def scope_zone(self) -> tzinfo:
        return caller_zone(self.request, self.scope_outlet_id)

    def date_zone(self, request) -> tzinfo:
        """The outlet's zone when the list is one outlet's; UTC for staff over every outlet."""
        return self.scope_zone

    def scoped_queryset(self, outlet_id):
        """The view's rows for one outlet (None: every outlet, staff only); every list is scoped here."""
        raise TypeError(f"{type(self).__name__} must define scoped_queryset()")
