"""Date ranges: `start_date`/`end_date` (aliases `from`/`to`), YYYY-MM-DD, end inclusive, in a zone.

An outlet's dates are its local dates (`Outlet.timezone`); a range over no one outlet is in UTC.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.utils import timezone
from rest_framework.exceptions import ValidationError

DEFAULT_DAYS = 30
# The days a range may name: no usage predates 2000 (ingest refuses it), and the day after the last must exist.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date.max - timedelta(days=1)


def today_in(zone: tzinfo) -> date:
    """Today's date in `zone`."""
    return timezone.now().astimezone(zone).date()


def today_utc() -> date:
    return today_in(UTC)


def zone_name(zone: tzinfo) -> str:
    """A zone's IANA name (Asia/Kolkata), or UTC."""
    return getattr(zone, "key", None) or zone.tzname(None)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The first instant of `day` in `zone`: where midnight is skipped (a DST change at 00:00), the change itself."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def zone_iso(moment: datetime, zone: tzinfo) -> str:
    """ISO 8601 with `zone`'s offset at that moment; a zero offset is a `Z`."""
    text = moment.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes times."""
    return zone_iso(moment, UTC)


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date  # inclusive
    zone: tzinfo = UTC  # whose dates they are

    @property
    def start_at(self) -> datetime:
        return local_midnight(self.start, self.zone)

    @property
    def end_before(self) -> datetime:
        """The first instant after the range: filter with `< end_before`."""
        return local_midnight(self.end + timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


# One rule for a range of days, whoever asks (the API's parameters, the dashboard's filters): each words its refusal.

class StartsAfterEnd(ValueError):
    def __init__(self, start: date, end: date):
        super().__init__(f"{start} is after {end}.")
        self.start, self.end = start, end


class SpansTooLong(ValueError):
    def __init__(self, days: int, max_days: int):
        super().__init__(f"{days} days, more than {max_days}.")
        self.days, self.max_days = days, max_days


def day_allowed(day: date) -> bool:
    """A day a range may name: from EARLIEST_DAY to LATEST_DAY."""
    return EARLIEST_DAY <= day <= LATEST_DAY


def valid_range(start: date, end: date, *, max_days: int | None = None, zone: tzinfo = UTC) -> DateRange:
    """start..end inclusive; StartsAfterEnd if it starts after it ends, SpansTooLong if over `max_days` days."""
    if start > end:
        raise StartsAfterEnd(start, end)
    date_range = DateRange(start, end, zone)
    if max_days is not None and date_range.days > max_days:
        raise SpansTooLong(date_range.days, max_days)
    return date_range


def _parse_day(params, name: str, alias: str) -> date | None:
    raw = params.get(name) or params.get(alias)
    if not raw:
        return None
    shown = name if params.get(name) else alias
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({shown: [f"'{raw}' is not a date: use YYYY-MM-DD."]}) from None
    if not day_allowed(day):
        raise ValidationError({shown: [f"{day} is out of range: a day from {EARLIEST_DAY} to {LATEST_DAY}."]})
    return day


def parse_date_range(
    params, *, default_days: int = DEFAULT_DAYS, max_days: int | None = None, zone: tzinfo = UTC
) -> DateRange:
    """The range asked for, as dates of `zone`; a missing end is today there, a missing start `default_days` before."""
    start = _parse_day(params, "start_date", "from")
    end = _parse_day(params, "end_date", "to") or today_in(zone)
    if start is None:
        start = max(end - timedelta(days=default_days - 1), EARLIEST_DAY)
    # Errors name the parameters as the caller sent them: `from`/`to` or `start_date`/`end_date`.
    start_name = "from" if "from" in params and "start_date" not in params else "start_date"
    end_name = "to" if "to" in params and "end_date" not in params else "end_date"
    try:
        return valid_range(start, end, max_days=max_days, zone=zone)
    except StartsAfterEnd:
        raise ValidationError({start_name: [f"{start_name} {start} is after {end_name} {end}."]}) from None
    except SpansTooLong as error:
        raise ValidationError(
            {start_name: [f"The range may span at most {max_days} days, not {error.days}."]}
        ) from None


DATE_RANGE_PARAMETERS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "format": "date"},
    }
    for name, description in (
        ("start_date", "First day, YYYY-MM-DD: the outlet's local date. Default: 30 days before end_date."),
        ("end_date", "Last day (inclusive), YYYY-MM-DD: the outlet's local date. Default: today there."),
        ("from", "Alias of start_date."),
        ("to", "Alias of end_date."),
    )
]
