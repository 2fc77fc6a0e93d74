"""The usage series: tokens, conversations and messages per day over the last days, zero-filled."""

from collections import defaultdict
from datetime import UTC, timedelta
from uuid import UUID

from analytics.aggregation import aggregate, number
from analytics.facts import INTERACTIONS, USAGE
from analytics.scope import answer_zone, one_staleness
from analytics.zones import midnight
from config.api import dates  # read as dates.today_in(): the tests fix "today" there
from config.api.dates import DateRange


def _daily_tokens_and_calls(outlet_id: UUID | None, date_range: DateRange) -> tuple[dict, dict, dict]:
    """Tokens, conversations (interactions started) and messages (their message counts) per day."""
    tokens, conversations, messages = defaultdict(int), defaultdict(int), defaultdict(int)
    usage = aggregate(
        USAGE, outlet_id=outlet_id, date_range=date_range, measures={"units"}, period="day",
        filters={"unit": ["tokens"]},
    )
    for row in usage:
        tokens[row["period"].date()] += number(row["units"])
    calls = aggregate(INTERACTIONS, outlet_id=outlet_id, date_range=date_range, measures={"calls", "messages"}, period="day")
    for row in calls:
        conversations[row["period"].date()] += row["calls"]
        messages[row["period"].date()] += row["messages"]
    return tokens, conversations, messages


@one_staleness()
def usage_series(*, outlet_id: UUID | None, days: int) -> dict:
    """The last `days` local days, today included: `[unix ms of the date's midnight UTC, total]` per day, zero-filled.

    Today is the outlet's (over every outlet, UTC's, as for every staff date).
    """
    utc_today = dates.today_in(UTC)
    # Today in any zone is within a day of UTC's: the dates around are read with the zone, in one statement.
    around = DateRange(utc_today - timedelta(days=days), utc_today + timedelta(days=1))
    end = dates.today_in(answer_zone(outlet_id, around) if outlet_id else UTC)
    date_range = DateRange(end - timedelta(days=days - 1), end)
    tokens, conversations, messages = _daily_tokens_and_calls(outlet_id, date_range)
    points = {"tokens": [], "conversations": [], "messages": []}
    for offset in range(days):
        day = date_range.start + timedelta(days=offset)
        stamp = int(midnight(day).timestamp() * 1000)
        points["tokens"].append([stamp, tokens[day]])
        points["conversations"].append([stamp, conversations[day]])
        points["messages"].append([stamp, messages[day]])
    return {"days": days, **points}
