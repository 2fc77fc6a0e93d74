"""The dashboard's numbers: the questions' answers, cached as the API caches its own, and the live reads."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.utils import timezone

from analytics.cache import cached_answer
from analytics.dashboard.filters import Filters
from analytics.questions.alerts import open_alert_list
from analytics.questions.breakdown import Breakdown, usage_breakdown
from analytics.questions.credit_history import credit_history
from analytics.questions.spend import spend_overview
from analytics.questions.summary import model_usage, usage_summary, usage_totals
from analytics.requestlog.selectors import failed_request_list
from analytics.scope import one_staleness
from config.api import dates  # read as dates.today_in(): the tests fix "today" there
from config.api.dates import DateRange, local_midnight
from credits.holds.selectors import held_total, refused_agent_count
from credits.models import Outlet
from credits.selectors import balance_list, grant_expiring_list, ledger_entry_newest_id

BY_TYPE_LIMIT = 8
FAILED_SHOWN = 10
EXPIRING_WITHIN = timedelta(days=7)
EXPIRING_SHOWN = 50  # the soonest; the CSV has as many
BREAKDOWN_LIMIT = 10  # values with a series of their own; the rest add up as one "other"


@one_staleness()
def usage_answer(outlet_id: UUID | None, date_range: DateRange) -> dict:
    by_type = Breakdown(metric="credits", breakdown="type", interval="month", filters={}, limit=BY_TYPE_LIMIT)
    return {
        "totals": usage_totals(outlet_id=outlet_id, date_range=date_range),
        "spend": spend_overview(outlet_id=outlet_id, date_range=date_range),
        "by_type": usage_breakdown(outlet_id=outlet_id, date_range=date_range, question=by_type)["series"],
        "agents": usage_summary(outlet_id=outlet_id, date_range=date_range, group_by="AGENT"),
        "models": model_usage(outlet_id=outlet_id, date_range=date_range),
    }


def start_of_today(outlet: Outlet | None) -> datetime:
    """Today's first instant: the outlet's local midnight when the dashboard shows one outlet, else UTC's."""
    zone = outlet.zone if outlet else UTC
    return local_midnight(dates.today_in(zone), zone)


def dashboard_numbers(filters: Filters) -> dict:
    """The questions' answers (cached as the API caches its own) and the live reads."""
    outlet_id, date_range = filters.outlet_id, filters.date_range
    question = {"from": date_range.start, "to": date_range.end}
    usage = cached_answer("admin-dashboard", outlet_id, question, lambda: usage_answer(outlet_id, date_range))
    by = Breakdown(
        metric="credits", breakdown=filters.breakdown, interval=filters.interval, filters={}, limit=BREAKDOWN_LIMIT
    )
    breakdown = cached_answer(
        "admin-dashboard-breakdown", outlet_id, {**question, "breakdown": by.breakdown, "interval": by.interval},
        lambda: usage_breakdown(outlet_id=outlet_id, date_range=date_range, question=by),
    )
    history = cached_answer(
        "admin-dashboard-credits", outlet_id, {**question, "ledger": ledger_entry_newest_id(outlet_id=outlet_id)},
        lambda: credit_history(outlet_id=outlet_id, date_range=date_range, interval="day"),
    )
    accounts = balance_list(outlet_id=outlet_id).values("pk", "balance", "threshold", "is_low")
    balances = {row["pk"]: row for row in accounts}
    alerts = list(open_alert_list(outlet_id=outlet_id))
    now = timezone.now()
    expiring = list(grant_expiring_list(outlet_id=outlet_id, until=now + EXPIRING_WITHIN, now=now)[:EXPIRING_SHOWN])
    failed = failed_request_list(outlet_id=outlet_id, since=start_of_today(filters.outlet))
    return {
        **usage, "breakdown": breakdown, "history": history, "balances": balances, "alerts": alerts, "expiring": expiring,
        "failed_count": failed.count(), "failed": list(failed[:FAILED_SHOWN]),
        "held": held_total(outlet_id=outlet_id, now=now),
        "refused": refused_agent_count(outlet_id=outlet_id, since=start_of_today(filters.outlet)),
    }
