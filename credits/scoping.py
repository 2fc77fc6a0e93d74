"""Which outlet a request may see: its key's outlet, or for staff every outlet or the one asked for."""

from uuid import UUID

from rest_framework.exceptions import NotFound, ValidationError

from credits.models import Outlet


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
