"""The credit history on hand-built usage and ledger changes."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from analytics.questions.credit_history import credit_history
from config.api import dates
from config.api.dates import DateRange
from credits import services as credit_services
from credits import writeoffs
from credits.grants import GrantTerms
from credits.models import CreditAccount
from tests.analytics.handbuilt import ACTOR, at, ingest, record
from tests.clock import Clock
from tests.factories import AgentFactory, OutletFactory


def test_credit_history_adds_consumption_ledger_changes_burn_and_runway(db):
    today = dates.today_utc()
    outlet = OutletFactory()
    rich, spent, idle = (AgentFactory(outlet=outlet, name=name) for name in ("rich", "spent", "idle"))
    credit_services.credits_add(agent=rich, amount=Decimal("200"), actor=ACTOR, reason="top-up")
    ingest(
        outlet,
        record(rich, "recent", at(today - timedelta(days=3)), credits="6"),
        record(rich, "old", at(today - timedelta(days=40)), credits="99"),  # before the range and the 30-day burn
        record(spent, "spent", at(today - timedelta(days=1)), credits="3"),
    )
    credit_services.credits_set(agent=rich, amount=Decimal("50"), actor=ACTOR, reason="correction")  # -45
    credit_services.credits_add(agent=rich, amount=Decimal("10"), actor=ACTOR, reason="top-up")
    credit_services.credits_add(agent=idle, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    credit_services.credits_clear(agent=idle, actor=ACTOR, reason="closed")  # -5
    AgentFactory()  # another outlet's agent
    ledger_day = CreditAccount.objects.get(pk=rich.pk).entries.latest("id").created_at.date()

    history = credit_history(outlet_id=outlet.pk, date_range=DateRange(today - timedelta(days=29), today), interval="day")
    assert (history["balance"], history["average_daily_burn"]) == (Decimal("57"), Decimal("0.3"))  # 60 - 3; 9 / 30
    assert history["runway_days"] == Decimal("190")
    assert len(history["periods"]) == 30
    by_day = {period["period"]: period for period in history["periods"]}
    assert by_day[today - timedelta(days=3)]["consumed"] == Decimal("6")
    assert by_day[today - timedelta(days=1)]["consumed"] == Decimal("3")
    assert (by_day[ledger_day]["added"], by_day[ledger_day]["removed"]) == (Decimal("215"), Decimal("50"))
    agents = {row["agent_name"]: row for row in history["agents"]}
    assert [row["agent_name"] for row in history["agents"]] == ["spent", "rich", "idle"]  # runway 0, 300, none
    assert (agents["rich"]["balance"], agents["rich"]["average_daily_burn"], agents["rich"]["runway_days"]) == (
        Decimal("60"), Decimal("0.2"), Decimal("300"),
    )
    assert (agents["rich"]["consumed"], agents["rich"]["added"], agents["rich"]["removed"]) == (6, 210, 45)
    assert (agents["spent"]["balance"], agents["spent"]["runway_days"]) == (Decimal("-3"), 0)
    assert (agents["idle"]["balance"], agents["idle"]["runway_days"], agents["idle"]["removed"]) == (0, None, 5)

    idle_only = credit_history(
        outlet_id=outlet.pk, date_range=DateRange(today, today), interval="month", agent_id=idle.pk
    )
    assert (idle_only["balance"], idle_only["average_daily_burn"], idle_only["runway_days"]) == (0, 0, None)
    assert [row["agent_name"] for row in idle_only["agents"]] == ["idle"]
    assert idle_only["periods"] == [
        {"period": today.replace(day=1), "consumed": 0, "added": 5, "removed": 5, "expired": 0, "voided": 0}
    ]


def test_credit_history_counts_expired_and_voided_credits_apart_from_consumed_and_removed(db):
    agent = AgentFactory()
    with Clock() as clock:
        clock.now = clock.now.replace(hour=10)  # the day the grants open is the day they expire
        credit_services.credits_add(
            agent=agent, amount=Decimal("7"), actor=ACTOR, reason="promotion",
            terms=GrantTerms(source="promotion", expires_at=clock.now + timedelta(hours=1)),
        )
        doomed = credit_services.credits_add(agent=agent, amount=Decimal("4"), actor=ACTOR, reason="purchase").grant
        writeoffs.grant_void(grant_id=doomed.pk, outlet_id=None, actor=ACTOR, reason="refunded")
        credit_services.credits_set(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="correction")  # -2
        clock.advance(hours=2)
        writeoffs.grants_expire_due()  # the promotion's 5 left
        today = clock.now.date()
        history = credit_history(outlet_id=agent.outlet_id, date_range=DateRange(today, today), interval="day")

    changes = {"consumed": 0, "added": 11, "removed": 2, "expired": 5, "voided": 4}
    assert history["periods"] == [{"period": today, **changes}]
    assert {name: history["agents"][0][name] for name in changes} == changes
    assert history["balance"] == 0


def test_credit_history_weeks_start_on_monday(db):
    history = credit_history(
        outlet_id=OutletFactory().pk, date_range=DateRange(date(2026, 3, 4), date(2026, 3, 17)), interval="week"
    )
    assert [period["period"] for period in history["periods"]] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert history["runway_days"] is None and history["agents"] == []


def test_credit_history_shows_ledger_changes_on_the_day_they_took_effect(db):
    today = dates.today_utc()
    agent = AgentFactory()
    paid = datetime.combine(today - timedelta(days=10), time(9), tzinfo=UTC)
    credit_services.credits_add(agent=agent, amount=Decimal("40"), actor=ACTOR, reason="paid then", effective_at=paid)
    credit_services.credits_add(agent=agent, amount=Decimal("2"), actor=ACTOR, reason="paid now")

    history = credit_history(
        outlet_id=agent.outlet_id, date_range=DateRange(today - timedelta(days=29), today), interval="day"
    )

    added = {period["period"]: period["added"] for period in history["periods"] if period["added"]}
    assert added == {paid.date(): Decimal("40"), today: Decimal("2")}


def test_credit_history_of_a_kolkata_outlet_puts_changes_and_usage_on_its_local_dates(db, monkeypatch):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    late = datetime(2026, 3, 7, 20, tzinfo=UTC)  # 01:30 on 8 March in Kolkata
    credit_services.credits_add(agent=agent, amount=Decimal("40"), actor=ACTOR, reason="late top-up", effective_at=late)
    credit_services.credits_add(
        agent=agent, amount=Decimal("2"), actor=ACTOR, reason="morning top-up", effective_at=late - timedelta(hours=10)
    )
    ingest(agent.outlet, record(agent, "late", late.isoformat(), credits="3"))
    monkeypatch.setattr(dates, "today_in", lambda zone: date(2026, 3, 8) if zone == agent.outlet.zone else None)

    history = credit_history(
        outlet_id=agent.outlet.pk, date_range=DateRange(date(2026, 3, 7), date(2026, 3, 8)), interval="day"
    )
    assert [(period["period"], period["added"], period["consumed"]) for period in history["periods"]] == [
        (date(2026, 3, 7), Decimal("2"), 0), (date(2026, 3, 8), Decimal("40"), Decimal("3")),
    ]
    assert history["average_daily_burn"] == Decimal("0.1")  # the last 30 days up to the local 8 March: 3 / 30
