"""The holds' reconcile check, registered in `UsageConfig.ready()`: it reads both apps' tables, so it lives here."""

from decimal import Decimal

from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Abs, Coalesce

from config.checks import CheckResult
from config.commands import plural
from config.money import CREDIT_QUANTUM
from credits.holds.models import CreditHold
from usage.models import UsageRecord


def hold_mismatches() -> list[str]:
    """Holds whose captured credit is not the credit of the usage records that name them."""
    recorded = UsageRecord.objects.filter(hold=OuterRef("pk")).order_by().values("hold")
    holds = CreditHold.objects.annotate(
        recorded=Coalesce(Subquery(recorded.annotate(total=Sum("credits")).values("total")), Value(Decimal(0)))
    ).annotate(drift=Abs(F("captured") - F("recorded")))
    # Any real difference is at least one quantum; the half-quantum margin absorbs SQLite's REAL arithmetic.
    return [
        f"hold {pk} of account {account_id}: captured {captured} != its usage records' credits {total}"
        for pk, account_id, captured, total in holds.filter(drift__gt=CREDIT_QUANTUM / 2)
        .order_by("created_at", "pk")
        .values_list("pk", "account_id", "captured", "recorded")
    ]


def check_holds() -> CheckResult:
    """Every hold's captured credit equals the credit of the usage records that captured it."""
    return CheckResult(checked=plural(CreditHold.objects.count(), "hold"), problems=hold_mismatches())
