"""What the dashboard shows: one outlet or all, and a preset range or a from/to of its own."""

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from urllib.parse import urlencode
from uuid import UUID

from django import forms

from analytics.facts import BREAKDOWN_DIMENSIONS
from analytics.periods import billing_period
from config.api import dates  # read as dates.today_in(): the tests fix "today" there
from config.api.dates import (
    DEFAULT_DAYS,
    EARLIEST_DAY,
    LATEST_DAY,
    DateRange,
    SpansTooLong,
    StartsAfterEnd,
    day_allowed,
    valid_range,
)
from credits.models import Outlet

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "month": "This month", "90d": "Last 90 days"}
PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}
DEFAULT_PRESET = "month"
MAX_DAYS = 366
# The usage breakdown's dimensions: the API's, less the agent (the top agents table ranks agents by name).
BREAKDOWN_LABELS = {
    "voice": "Voice", "product": "Product", "api_key": "API key", "user": "End user", "model": "Model", "type": "Type",
}
BREAKDOWN_CHOICES = {
    dimension.api_name: BREAKDOWN_LABELS[dimension.api_name]
    for dimension in BREAKDOWN_DIMENSIONS if not dimension.agent_ids
}
INTERVAL_CHOICES = {"day": "Day", "week": "Week", "month": "Month", "cumulative": "Cumulative"}
DEFAULT_BREAKDOWN, DEFAULT_INTERVAL = "voice", "day"
OUT_OF_RANGE = f"That date is out of range. Pick a day from {EARLIEST_DAY} to {LATEST_DAY}."


@dataclass(frozen=True)
class Filters:
    outlet: Outlet | None
    preset: str | None  # None: a custom from/to range
    date_range: DateRange
    breakdown: str = DEFAULT_BREAKDOWN
    interval: str = DEFAULT_INTERVAL

    @property
    def outlet_id(self) -> UUID | None:
        return self.outlet.pk if self.outlet else None

    def params(self, **changes) -> dict:
        """The query string that asks for these filters again (with `changes`)."""
        params = {"outlet": str(self.outlet.pk)} if self.outlet else {}
        if self.preset:
            params["range"] = self.preset
        else:
            params.update({"from": self.date_range.start.isoformat(), "to": self.date_range.end.isoformat()})
        if (self.breakdown, self.interval) != (DEFAULT_BREAKDOWN, DEFAULT_INTERVAL):
            params.update({"breakdown": self.breakdown, "interval": self.interval})
        return {**params, **changes}

    def url(self, **changes) -> str:
        return "?" + urlencode({name: value for name, value in self.params(**changes).items() if value is not None})


def preset_range(preset: str, outlet: Outlet | None, today: date) -> DateRange:
    """The preset's days up to today; this month is the outlet's billing period so far (the calendar month for all)."""
    if preset == "month":
        start = billing_period(outlet, today).start if outlet else today.replace(day=1)
        return DateRange(start, today)
    return DateRange(today - timedelta(days=PRESET_DAYS[preset] - 1), today)


def today_of(outlet: Outlet | None) -> date:
    """Today: the outlet's local date, or UTC's over every outlet."""
    return dates.today_in(outlet.zone if outlet else UTC)


def custom_range(start: date | None, end: date | None, outlet: Outlet | None) -> tuple[date, date]:
    """from/to as given (the outlet's local dates); a missing end is today there, a missing start 30 days before it.

    As in the API, except that the API holds a default start at EARLIEST_DAY and this does not.
    """
    end = end or today_of(outlet)
    return start or end - timedelta(days=DEFAULT_DAYS - 1), end


def allowed_day(day: date) -> None:
    """A from or to that names a day no range may name is a field error."""
    if not day_allowed(day):
        raise forms.ValidationError(OUT_OF_RANGE, code="out_of_range")


class DashboardFilters(forms.Form):
    """outlet (blank: all), range (a preset), or from/to (a custom range, which wins over the preset);
    the usage breakdown's dimension and interval.
    """

    outlet = forms.ChoiceField(required=False)
    range = forms.ChoiceField(required=False, choices=[("", "")] + list(PRESETS.items()))
    breakdown = forms.ChoiceField(required=False, choices=list(BREAKDOWN_CHOICES.items()), label="Break down by")
    interval = forms.ChoiceField(required=False, choices=list(INTERVAL_CHOICES.items()))

    def __init__(self, data, *, outlets: list[Outlet]):
        super().__init__(data)
        self.outlets = {str(outlet.pk): outlet for outlet in outlets}
        choices = [(pk, outlet.name) for pk, outlet in self.outlets.items()]
        self.fields["outlet"].choices = [("", "All outlets"), *choices]
        for name in ("from", "to"):
            self.fields[name] = forms.DateField(
                required=False,
                widget=forms.DateInput(attrs={"type": "date", "min": EARLIEST_DAY, "max": LATEST_DAY}),
                validators=[allowed_day],
            )

    def clean(self):
        data = super().clean()
        if data.get("from") or data.get("to"):
            try:
                outlet = self.outlets.get(data.get("outlet") or "")
                valid_range(*custom_range(data.get("from"), data.get("to"), outlet), max_days=MAX_DAYS)
            except StartsAfterEnd as error:
                raise forms.ValidationError(f"The range starts ({error.start}) after it ends ({error.end}).") from None
            except SpansTooLong:
                raise forms.ValidationError(f"A range may span at most {MAX_DAYS} days.") from None
        return data

    def filters(self) -> Filters:
        """What was asked for; the defaults (this month, or all outlets) for whatever was not valid."""
        valid = self.is_valid()
        data = self.cleaned_data  # the fields that were valid, even when the range was not
        outlet = self.outlets.get(data.get("outlet") or "")
        breakdown = {
            "breakdown": data.get("breakdown") or DEFAULT_BREAKDOWN, "interval": data.get("interval") or DEFAULT_INTERVAL,
        }
        if valid and (data.get("from") or data.get("to")):
            return Filters(outlet, None, DateRange(*custom_range(data.get("from"), data.get("to"), outlet)), **breakdown)
        preset = data.get("range") or DEFAULT_PRESET
        return Filters(outlet, preset, preset_range(preset, outlet, today_of(outlet)), **breakdown)
