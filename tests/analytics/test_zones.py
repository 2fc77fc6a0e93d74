"""Every outlet in its own zone: local hours and dates in SQL and Python, and every answer on the local date."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Value

from analytics.aggregation import aggregate
from analytics.facts import INTERACTIONS, USAGE, USAGE_SUMS
from analytics.models import DirtyBucket, RollupZone, UsageDailyRollup
from analytics.services import rollup_dirty_buckets
from analytics.zones import LocalDate, LocalHourStart, LocalTrunc, local_hour_start, local_hours
from config.api.dates import DateRange
from tests.analytics.api.conftest import SERIES, SNAPSHOT, SPEND, SUMMARY
from tests.analytics.api.conftest import USAGE as BREAKDOWN
from tests.analytics.dashboard.pages import INDEX, kpis
from tests.analytics.handbuilt import ingest, record
from tests.analytics.test_aggregation import expected_usage, on_local_dates, quantized
from tests.factories import AgentFactory, OutletFactory
from usage.models import UsageRecord

KOLKATA, NEW_YORK, LORD_HOWE = ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")


def one_day(day: date) -> DateRange:
    return DateRange(day, day)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (NEW_YORK, date(2026, 3, 8), 23),  # DST starts: 02:00 never happens
        (NEW_YORK, date(2026, 11, 1), 25),  # DST ends: 01:00 happens twice
        (LORD_HOWE, date(2026, 4, 5), 25),  # back 30 minutes: 01:30 to 02:00 again, a half hour of its own
        (LORD_HOWE, date(2026, 10, 4), 24),  # on 30 minutes: 02:00 to 02:30 never happens, 02:00 is half an hour
        (KOLKATA, date(2026, 3, 8), 24),
    ],
)
def test_a_local_day_has_the_hours_its_clocks_show(zone, day, hours):
    listed = local_hours(one_day(day), zone)
    assert len(listed) == hours
    assert len(set(listed)) == hours and list(listed) == sorted(listed)
    assert all(hour.astimezone(zone).date() == day for hour in listed)


def test_a_kolkata_hour_starts_at_half_past_utc():
    start = local_hour_start(datetime(2026, 3, 7, 20, 10, tzinfo=UTC), KOLKATA)
    assert start.isoformat() == "2026-03-08T01:00:00+05:30"
    assert start.astimezone(UTC) == datetime(2026, 3, 7, 19, 30, tzinfo=UTC)


def test_the_hour_new_york_repeats_is_two_hours():
    first, second = datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert local_hour_start(first, NEW_YORK).isoformat() == "2026-11-01T01:00:00-04:00"
    assert local_hour_start(second, NEW_YORK).isoformat() == "2026-11-01T01:00:00-05:00"


@pytest.mark.parametrize("zone", [KOLKATA, NEW_YORK, LORD_HOWE, ZoneInfo("Asia/Kathmandu"), ZoneInfo("Etc/GMT+10")])
def test_the_database_buckets_each_record_as_python_does(agent, zone):
    moments = [datetime(2026, 4, 4, 12, tzinfo=UTC) + timedelta(minutes=17 * step) for step in range(200)]
    moments += [datetime(2026, 11, 1, 4, tzinfo=UTC) + timedelta(minutes=10 * step) for step in range(30)]
    ingest(agent.outlet, *(record(agent, f"r{index}", moment.isoformat()) for index, moment in enumerate(moments)))
    name = Value(zone.key)
    rows = UsageRecord.objects.annotate(
        hour=LocalHourStart("occurred_at", name), day=LocalTrunc("occurred_at", "day", name),
        local_date=LocalDate("occurred_at", name),
    ).values_list("occurred_at", "hour", "day", "local_date")
    for moment, hour, day, local_date in rows:
        assert hour.replace(tzinfo=UTC) == local_hour_start(moment, zone)
        assert local_date == moment.astimezone(zone).date()
        assert day.replace(tzinfo=None) == datetime.combine(local_date, datetime.min.time())


# --- a Kolkata outlet: 20:00 UTC is 01:30 the next morning ---------------------------------------------------

@pytest.fixture
def kolkata_call(db):
    """A Kolkata outlet's call at 01:30 local on 8 March (20:00 UTC on the 7th), and a record of its own on the 7th."""
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    ingest(
        agent.outlet,
        record(agent, "late", "2026-03-07T20:00:00Z", count=700, credits="7", cost="0.07"),
        record(agent, "early", "2026-03-07T10:00:00Z", count=100, credits="1", cost="0.01"),
    )
    return agent


def local_answers(client, today_day: date) -> dict:
    """What the endpoints say of 7 and 8 March."""
    march_7, march_8 = {"from": "2026-03-07", "to": "2026-03-07"}, {"from": "2026-03-08", "to": "2026-03-08"}
    summary = [client.get(SUMMARY, {**day, "group_by": "OUTLET"}).json()["items"] for day in (march_7, march_8)]
    spend = client.get(SPEND, {"from": "2026-03-07", "to": "2026-03-08"}).json()["time_series"]
    daily = client.get(BREAKDOWN, {"from": "2026-03-07", "to": "2026-03-08", "metric": "credits", "breakdown": "type"})
    series = client.get(SERIES, {"days": (today_day - date(2026, 3, 7)).days + 1}).json()["tokens"][:2]
    return {
        "summary credits": [items[0]["credits"] if items else None for items in summary],
        "spend cost": [(point["date"], point["cost"]) for point in spend],
        "breakdown": [(point["period"], point["value"]) for point in daily.json()["series"][0]["points"]],
        "series tokens": [tokens for _, tokens in series],
    }


@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_a_kolkata_call_at_20_utc_counts_on_the_next_local_date_everywhere(kolkata_call, key_client, staff, built,
                                                                            monkeypatch):
    from config.api import dates

    monkeypatch.setattr(dates, "today_in", lambda zone: date(2026, 3, 9))
    if built:
        rollup_dirty_buckets()
    client = key_client("read", for_outlet=kolkata_call.outlet)
    assert local_answers(client, date(2026, 3, 9)) == {
        "summary credits": ["1.000000", "7.000000"],
        "spend cost": [("2026-03-07", "0.01000000"), ("2026-03-08", "0.07000000")],
        "breakdown": [("2026-03-07", "1.000000"), ("2026-03-08", "7.000000")],
        "series tokens": [100, 700],
    }
    page = staff.get(INDEX, {"outlet": str(kolkata_call.outlet.pk), "from": "2026-03-08", "to": "2026-03-08"})
    assert kpis(page)["credits-consumed"] == "7.00"


# --- New York's clock changes: an hourly breakdown over the day -------------------------------------------

@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25)])
@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_a_new_york_hourly_breakdown_has_the_days_hours_each_exact(key_client, day, hours, built):
    agent = AgentFactory(outlet=OutletFactory(timezone="America/New_York"))
    start = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)  # before local midnight, through the next
    moments = [start + timedelta(minutes=20 * step) for step in range(3 * 28)]
    ingest(agent.outlet, *(
        record(agent, f"r{index}", moment.isoformat(), credits=str(index + 1)) for index, moment in enumerate(moments)
    ))
    if built:
        rollup_dirty_buckets()
    answer = key_client("read", for_outlet=agent.outlet).get(
        BREAKDOWN, {"from": day.isoformat(), "to": day.isoformat(), "interval": "hour", "breakdown": "type"}
    ).json()
    (series,) = answer["series"]
    expected: dict[str, Decimal] = {}
    for index, moment in enumerate(moments):
        if moment.astimezone(NEW_YORK).date() == day:
            label = local_hour_start(moment, NEW_YORK).isoformat()
            expected[label] = expected.get(label, Decimal(0)) + index + 1
    assert len(series["points"]) == hours
    assert {point["period"]: Decimal(point["value"]) for point in series["points"]} == {
        hour.isoformat(): expected.get(hour.isoformat(), Decimal(0)) for hour in local_hours(one_day(day), NEW_YORK)
    }


# --- the billing period starts at local midnight -----------------------------------------------------------

def test_an_auckland_billing_period_starts_at_local_midnight_of_the_cycle_day(key_client, monkeypatch):
    from config.api import dates

    agent = AgentFactory(outlet=OutletFactory(timezone="Pacific/Auckland", billing_cycle_day=15))
    ingest(
        agent.outlet,
        record(agent, "before", "2026-03-14T10:59:59Z", count=1),  # 23:59:59 on the 14th, NZDT (+13)
        record(agent, "first", "2026-03-14T11:00:00Z", count=10),  # 00:00 on the 15th
    )
    monkeypatch.setattr(dates, "today_in", lambda zone: date(2026, 3, 20))
    snapshot = key_client("read", for_outlet=agent.outlet).get(SNAPSHOT).json()
    assert (snapshot["period_start"], snapshot["period_end"], snapshot["tokens"]) == ("2026-03-15", "2026-04-14", 10)


# --- changing an outlet's zone -----------------------------------------------------------------------------

def answers_equal_the_raw_rows(outlet, date_range: DateRange) -> None:
    for period in (None, "day", "hour"):
        rows = aggregate(USAGE, outlet_id=outlet.pk, date_range=date_range, measures=USAGE_SUMS, group_by=["type"],
                         period=period)
        got = quantized({
            (row["type"], *([row["period"]] if period else [])): {name: row[name] for name in USAGE_SUMS}
            for row in rows if row["records"]
        })
        raw = on_local_dates(UsageRecord.objects.filter(outlet=outlet), date_range)
        assert got == quantized(expected_usage(raw, ["type"], period, USAGE_SUMS))
    (calls,) = aggregate(INTERACTIONS, outlet_id=outlet.pk, date_range=date_range, measures={"calls"})
    assert calls["calls"] == 0


def test_after_a_zone_change_answers_equal_the_raw_rows_at_once_and_after_the_rebuild(agent):
    moments = [datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=97 * step) for step in range(100)]
    ingest(agent.outlet, *(
        record(agent, f"r{index}", moment.isoformat(), credits="1.5", cost="0.01") for index, moment in enumerate(moments)
    ))
    rollup_dirty_buckets()
    date_range = DateRange(date(2026, 3, 2), date(2026, 3, 6))
    answers_equal_the_raw_rows(agent.outlet, date_range)

    agent.outlet.timezone = "Asia/Kolkata"
    agent.outlet.save()
    answers_equal_the_raw_rows(agent.outlet, date_range)  # at once: its rollups are not read
    call_command("reconcile", stdout=io.StringIO())

    rollup_dirty_buckets()
    assert RollupZone.objects.get(outlet=agent.outlet).timezone == "Asia/Kolkata"
    assert not DirtyBucket.objects.exists()
    assert UsageDailyRollup.objects.filter(outlet=agent.outlet).exists()
    answers_equal_the_raw_rows(agent.outlet, date_range)
    call_command("reconcile", stdout=io.StringIO())


# --- staff over outlets of several zones ---------------------------------------------------------------------

@pytest.mark.parametrize("built", [False, True], ids=["raw", "rollups"])
def test_staff_over_several_zones_add_local_dates_by_date_and_hours_by_the_wall_clock(staff, built):
    kolkata, new_york = (AgentFactory(outlet=OutletFactory(timezone=zone)) for zone in ("Asia/Kolkata", "America/New_York"))
    ingest(kolkata.outlet, record(kolkata, "k", "2026-03-07T20:00:00Z", credits="7"))  # 01:30 on the 8th
    ingest(new_york.outlet, record(new_york, "n", "2026-03-08T06:30:00Z", credits="5"))  # 01:30 on the 8th (EST)
    if built:
        rollup_dirty_buckets()
    day = {"from": "2026-03-08", "to": "2026-03-08", "metric": "credits", "breakdown": "type"}
    (daily,) = staff.get(BREAKDOWN, day).json()["series"]
    assert daily["points"] == [{"period": "2026-03-08", "value": "12.000000"}]
    (hourly,) = staff.get(BREAKDOWN, {**day, "interval": "hour"}).json()["series"]
    assert len(hourly["points"]) == 24 and hourly["points"][0]["period"] == "2026-03-08T00:00:00"
    assert {point["period"]: point["value"] for point in hourly["points"] if point["value"] != "0.000000"} == {
        "2026-03-08T01:00:00": "12.000000"
    }


def test_the_last_days_a_range_may_name_are_answered_in_any_zone(key_client):
    agent = AgentFactory(outlet=OutletFactory(timezone="Pacific/Kiritimati"))  # UTC+14
    client = key_client("read", for_outlet=agent.outlet)
    for params in ({"from": "9999-12-01", "to": "9999-12-30"}, {"from": "2000-01-01", "to": "2000-01-02"}):
        response = client.get(SUMMARY, params)
        assert response.status_code == 200, response.content
        hourly = client.get(BREAKDOWN, {**params, "from": params["to"], "interval": "hour", "breakdown": "type"})
        assert hourly.status_code == 200, hourly.content
