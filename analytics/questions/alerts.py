"""The credit alerts still open: what the dashboard lists for staff to act on."""

from uuid import UUID

from django.db.models import QuerySet

from config.db import for_outlet
from credits.models import CreditAlert


def open_alert_list(*, outlet_id: UUID | None) -> QuerySet[CreditAlert]:
    """Open low-balance and depleted alerts, the newest first."""
    alerts = CreditAlert.objects.filter(status=CreditAlert.Status.OPEN).select_related("account__agent", "outlet")
    return for_outlet(alerts, outlet_id).order_by("-opened_at", "-id")
