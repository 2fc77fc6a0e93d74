"""The usage snapshot: one outlet's totals over its current billing period so far."""

from decimal import Decimal

from analytics.aggregation import aggregate, number
from analytics.facts import INTERACTIONS, USAGE, USAGE_SUMS
from analytics.periods import billing_period
from analytics.scope import one_staleness
from config.api import dates  # read as dates.today_in(): the tests fix "today" there
from credits.models import Outlet
from usage.models import UsageRecord


@one_staleness()
def usage_snapshot(*, outlet: Outlet) -> dict:
    """Totals of the outlet's current billing period so far, from its local midnight of the cycle day."""
    period = billing_period(outlet, dates.today_in(outlet.zone))
    totals = aggregate(USAGE, outlet_id=outlet.pk, date_range=period, measures=USAGE_SUMS, group_by=["unit"])
    (calls,) = aggregate(INTERACTIONS, outlet_id=outlet.pk, date_range=period, measures={"calls", "messages"})
    units = {row["unit"]: number(row["units"]) for row in totals}
    return {
        "outlet_id": outlet.pk,
        "period_start": period.start,
        "period_end": period.end,
        "tokens": units.get(UsageRecord.Unit.TOKENS, 0),
        "conversations": calls["calls"],
        "messages": calls["messages"],
        "records": sum(row["records"] for row in totals),
        "credits": sum((number(row["credits"]) for row in totals), Decimal(0)),
        "cost": sum((number(row["cost"]) for row in totals), Decimal(0)),
        "units": units,
    }
