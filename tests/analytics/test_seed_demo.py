"""`manage.py seed_demo`: the demo data set, seeded through the services, with its rollups built."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db.models import Count, Sum
from django.utils import timezone

from analytics.demo.seed import login_line
from analytics.models import DirtyBucket, UsageHourlyRollup
from analytics.questions.credit_history import credit_history
from config.api import dates
from config.api.dates import DateRange
from config.errors import DomainError
from credits import selectors, services
from credits.holds import selectors as hold_selectors
from credits.holds.models import CreditHold
from credits.holds.policy import spend_policy
from credits.models import Agent, ApiKey, CreditGrant, CreditLedgerEntry, Outlet
from tests.commands import run
from tests.factories import StaffFactory
from usage.models import Interaction, UsageRecord

pytestmark = pytest.mark.django_db

ADMIN_LOGIN_LINE = "Admin: http://127.0.0.1:8000/admin/  login: admin / admin"


# seed_demo


# Enough usage for every type, status and drop-off bucket; the default (20,000 records) takes seconds.
FEW_RECORDS = ("--records", "600")


def seed(*args: str) -> tuple[str, str]:
    return run("seed_demo", *FEW_RECORDS, *args)


def seeded_counts() -> dict:
    return {
        "outlets": Outlet.objects.count(),
        "agents": Agent.objects.count(),
        "entries": CreditLedgerEntry.objects.count(),
        "interactions": Interaction.objects.count(),
        "records": UsageRecord.objects.count(),
        "api_keys": ApiKey.objects.count(),
        "users": get_user_model().objects.count(),
    }


def test_seed_demo_creates_outlets_agents_and_a_consistent_ledger():
    out, _ = seed()

    counts = seeded_counts()
    assert (counts["outlets"], counts["agents"], counts["api_keys"]) == (3, 12, 3)
    assert set(CreditLedgerEntry.objects.values_list("kind", flat=True)) == {"ADD", "CONSUME", "SET", "CLEAR", "ALLOCATE"}
    assert set(CreditLedgerEntry.objects.values_list("actor_label", flat=True)) == {"system:seed"}
    assert CreditLedgerEntry.objects.filter(kind="CONSUME", ingest_batch_id__isnull=True).count() == 0
    assert selectors.ledger_mismatches() == []
    for outlet in Outlet.objects.all():
        outlet.full_clean()
    assert (
        f"Seeded 3 outlets, 12 agents, {counts['entries']} ledger entries, {counts['interactions']} interactions, "
        f"{counts['records']} usage records and 3 API keys with all scopes"
    ) in out
    assert out.splitlines()[-1] == ADMIN_LOGIN_LINE


def test_seed_demo_fills_each_pool_allocates_from_it_and_gives_promotions_expiring_within_the_week():
    seed()

    for outlet in Outlet.objects.all():
        assert CreditGrant.objects.filter(account__outlet=outlet, account__agent__isnull=True, source="purchase").exists()
        assert CreditGrant.objects.filter(outlet=outlet, source="allocation").count() >= 1
    soon = CreditGrant.objects.filter(source="promotion", status="active", expires_at__lte=timezone.now() + timedelta(days=7))
    assert soon.count() >= 3


def test_seed_demo_consumption_is_the_usage_it_ingests_and_reconcile_passes():
    seed()

    consumed = CreditLedgerEntry.objects.filter(kind="CONSUME")
    assert consumed.count() > 12  # several batches per agent
    for entry in consumed:
        usage = UsageRecord.objects.filter(ingest_batch_id=entry.ingest_batch_id, agent_id=entry.account_id)
        assert entry.amount == -sum(usage.values_list("credits", flat=True))
    assert set(UsageRecord.objects.values_list("ingest_batch_id", flat=True)) == set(
        consumed.values_list("ingest_batch_id", flat=True)
    )
    out, err = run("reconcile")
    assert out.startswith("OK: 15 accounts, ") and err == ""  # 12 agents' and 3 pools


def test_seed_demo_ledger_is_a_history_of_90_days_not_the_seeds_minute():
    run("seed_demo", "--records", "2400")

    entries = CreditLedgerEntry.objects.all()
    days = {moment.date() for moment in entries.values_list("effective_at", flat=True)}
    assert len(days) >= 60
    assert entries.filter(kind="ADD").values("account_id").annotate(adds=Count("id")).filter(adds__gt=1).exists()
    today = dates.today_utc()
    history = credit_history(outlet_id=None, date_range=DateRange(today - timedelta(days=89), today), interval="day")
    assert len([period for period in history["periods"] if period["added"]]) > 1
    assert selectors.ledger_mismatches() == []


def test_seed_demo_builds_the_rollups_of_what_it_seeds():
    out, _ = seed()

    assert not DirtyBucket.objects.exists()
    assert UsageHourlyRollup.objects.aggregate(records=Sum("records"))["records"] == UsageRecord.objects.count()
    assert "Built the rollups of " in out


def test_seed_demo_usage_has_every_type_over_the_last_90_days():
    seed()

    records = UsageRecord.objects.all()
    assert set(records.values_list("type", "unit").distinct()) == {
        ("CONVERSATION", "tokens"), ("TRANSITION", "tokens"), ("TTS", "characters"), ("STT", "seconds"),
        ("TELEPHONY", "seconds"),
    }
    assert set(records.filter(type="CONVERSATION").values_list("model", flat=True)) == {
        "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"
    }
    assert set(records.filter(type="TRANSITION").values_list("model", flat=True)) == {"gpt-4o-mini"}
    assert set(records.filter(type="TTS").values_list("provider", flat=True)) <= {"openai", "elevenlabs"}
    assert set(records.filter(type="TTS").values_list("voice", flat=True)) <= {"alloy", "nova", "rachel"}
    assert set(records.filter(type="STT").values_list("model", flat=True)) <= {"whisper-1", "nova-2"}
    assert set(records.filter(type="TELEPHONY").values_list("provider", flat=True)) == {"twilio"}
    assert set(records.values_list("product", flat=True)) == {"voice-agent", "chat-widget", "outbound-campaign"}
    latencies = records.filter(type="CONVERSATION").values_list("latency_ms", flat=True)
    assert 300 <= min(latencies) and max(latencies) <= 2500
    assert not records.filter(credits__lte=0).exists() and not records.filter(cost_usd__lte=0).exists()
    assert records.exclude(end_user_id="").count() == records.count()
    assert records.exclude(task_id="").exists() and records.exclude(contact_id="").exists()
    assert records.exclude(bot_id="").exists() and records.exclude(message_id="").exists()
    assert all(meta.get("lang") for meta in records.values_list("meta", flat=True))
    now = timezone.now()
    assert records.filter(occurred_at__lt=now - timedelta(days=91)).count() == 0
    assert records.filter(occurred_at__gt=now).count() == 0
    assert records.filter(occurred_at__lt=now - timedelta(days=60)).exists()
    interaction_ids = set(Interaction.objects.values_list("interaction_id", flat=True))
    assert set(records.values_list("conversation_id", flat=True)) == interaction_ids
    assert set(records.values_list("interaction_id", flat=True)) == interaction_ids


def test_seed_demo_interactions_have_every_status_sentiment_and_drop_off_bucket():
    seed()

    interactions = Interaction.objects.all()
    statuses = dict(interactions.values_list("status").annotate(count=Count("id")))
    assert statuses["completed"] > 4 * statuses["failed"] > 0
    assert 0 < statuses["in_progress"] <= 12
    today = timezone.now().replace(minute=0, second=0, microsecond=0).date()
    for call in interactions.filter(status="in_progress"):
        assert call.ended_at is None and call.started_at.date() == today
    assert set(interactions.values_list("sentiment", flat=True)) == {"positive", "neutral", "negative", "unknown"}
    assert set(interactions.values_list("channel", flat=True)) == {"voice", "chat"}
    ended = interactions.exclude(status="in_progress")
    for low, high in ((0, 30), (30, 60), (60, 180), (180, 300), (300, 100_000)):
        assert ended.filter(duration_seconds__gte=low, duration_seconds__lt=high).exists(), (low, high)
    assert ended.filter(duration_seconds__lt=10).count() == 0
    assert ended.filter(duration_seconds__gt=600).count() == 0


@pytest.mark.parametrize("records", [0, 1500])
def test_seed_demo_records_option_sets_about_how_many_records(records):
    out, _ = run("seed_demo", "--records", str(records))

    count = UsageRecord.objects.count()
    assert records <= count < records + 12 * 100  # each agent stops after the call that reaches its share
    assert f"{Interaction.objects.count():,} interactions, {count:,} usage records" in out
    assert selectors.ledger_mismatches() == []


def test_seed_demo_leaves_some_agents_below_threshold_and_one_depleted():
    seed()

    accounts = list(selectors.balance_list())
    low = [account for account in accounts if account.is_low]
    assert 2 <= len(low) < len(accounts)
    assert len([account for account in accounts if account.balance <= 0]) == 1
    assert all(account.balance >= 0 for account in accounts)


def test_seed_demo_creates_the_admin_superuser():
    out, _ = seed()

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("admin")
    assert out.splitlines()[-1] == ADMIN_LOGIN_LINE


def test_seed_demo_prints_one_working_api_key_per_outlet_with_all_scopes():
    out, _ = seed()

    printed = [line.rsplit(": ", 1) for line in out.splitlines() if line.startswith("API key for ")]
    assert len(printed) == 3
    for label, raw in printed:
        key = ApiKey.objects.get(prefix=raw.split(".")[0])
        assert key.is_valid(raw)
        assert label == f"API key for {key.outlet.name}"
        assert sorted(key.scopes) == sorted(ApiKey.Scope.values)
    assert len({raw for _, raw in printed}) == 3


def test_seed_demo_is_deterministic():
    def snapshot(outlets):
        return [
            (
                outlet.name, outlet.timezone, outlet.currency, outlet.billing_cycle_day, outlet.low_balance_threshold,
                [
                    (
                        agent.name, agent.external_id, agent.low_balance_threshold, agent.account.balance,
                        agent.interactions.count(),
                        agent.usage_records.aggregate(
                            records=Count("id"), credits=Sum("credits"), cost=Sum("cost_usd")
                        ),
                    )
                    for agent in outlet.agents.order_by("external_id")
                ],
            )
            for outlet in sorted(outlets, key=lambda outlet: outlet.name)
        ]

    seed()
    first = set(Outlet.objects.values_list("pk", flat=True))
    seed()

    assert snapshot(Outlet.objects.filter(pk__in=first)) == snapshot(Outlet.objects.exclude(pk__in=first))


def test_seed_demo_if_empty_on_a_seeded_database_creates_nothing_more():
    seed()
    before = seeded_counts()

    out, _ = seed("--if-empty")

    assert seeded_counts() == before
    assert out.splitlines() == [
        "Kept the existing data (3 outlets present); --if-empty seeds an empty database only.",
        ADMIN_LOGIN_LINE,
    ]


def test_seed_demo_if_empty_on_an_empty_database_seeds():
    out, _ = seed("--if-empty")

    assert Outlet.objects.count() == 3
    assert UsageRecord.objects.exists()
    assert out.splitlines()[-1] == ADMIN_LOGIN_LINE


def test_the_admin_login_line_names_the_address_the_server_runs_at(settings):
    settings.SITE_URL = "http://0.0.0.0:8123"

    assert login_line() == "Admin: http://0.0.0.0:8123/admin/  no superuser yet: run `manage.py createsuperuser`"


def test_seed_demo_takes_outlet_and_agent_counts():
    seed("--outlets", "10", "--agents", "2")

    assert Outlet.objects.count() == 10
    assert len(set(Outlet.objects.values_list("name", flat=True))) == 10
    assert Agent.objects.count() == 20
    assert Agent.objects.filter(usage_records__isnull=True).count() == 0
    assert selectors.ledger_mismatches() == []


@pytest.mark.parametrize("option, value, message", [
    ("--outlets", "0", "--outlets must be 1 or more, got 0."),
    ("--agents", "0", "--agents must be 1 or more, got 0."),
    ("--records", "-1", "--records must be 0 or more, got -1."),
])
def test_seed_demo_refuses_counts_below_their_minimum(option, value, message):
    with pytest.raises(CommandError, match=message):
        run("seed_demo", option, value)

    assert not Outlet.objects.exists()


def test_seed_demo_keeps_an_existing_superuser():
    StaffFactory(username="owner")

    out, _ = seed()

    assert not get_user_model().objects.filter(username="admin").exists()
    assert out.splitlines()[-1] == (
        "Admin: http://127.0.0.1:8000/admin/  login: your existing superuser (no demo admin was created)"
    )


def test_seed_demo_writes_nothing_when_a_service_refuses(monkeypatch):
    def refuse(**kwargs):
        raise DomainError("amount: Must be 0 or more.")

    monkeypatch.setattr(services, "credits_set", refuse)

    with pytest.raises(CommandError, match="Seeding failed, nothing was written: amount: Must be 0 or more."):
        seed()

    assert seeded_counts() == {
        "outlets": 0, "agents": 0, "entries": 0, "interactions": 0, "records": 0, "api_keys": 0, "users": 0
    }


def test_seed_demo_enforces_one_agent_with_a_live_hold_and_gives_another_a_top_up_rule_from_the_pool():
    out, _ = seed()

    hold = CreditHold.objects.select_related("account__agent").get()
    blocked = hold.account.agent
    assert (blocked.enforcement, blocked.overdraft_limit) == ("block", 0)
    assert hold.is_live(timezone.now() + timedelta(hours=23)) and hold.amount > 0
    assert hold_selectors.held_total() == hold.amount
    refills = Agent.objects.get(top_up_source="pool")
    assert refills.outlet == blocked.outlet and refills != blocked
    policy = spend_policy(refills, refills.outlet)
    assert policy.top_up.amount > 0 and policy.top_up.max_per_day > 0 and policy.enforcement == "off"
    assert f"Spend controls: {blocked.name} is enforced (block) with a live hold; {refills.name} tops up" in out
