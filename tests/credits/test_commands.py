import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from analytics.models import DirtyBucket, UsageHourlyRollup
from config.errors import DomainError
from credits import selectors, services
from credits.management.commands import reconcile
from credits.models import Agent, ApiKey, CreditAccount, CreditLedgerEntry, Outlet
from tests.factories import StaffFactory
from usage.models import Interaction, UsageRecord

pytestmark = pytest.mark.django_db

ADMIN_LOGIN_LINE = "Admin: http://127.0.0.1:8000/admin/  login: admin / admin"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def top_up(agent: Agent, amount: str = "25") -> None:
    services.credits_add(agent=agent, amount=Decimal(amount), actor=services.Actor.system("test"), reason="setup")


def balance(agent: Agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def named(agent: Agent) -> str:
    return f"agent {agent.name} ({agent.pk})"


# credits add|set|clear


def test_credits_add_command_writes_one_entry_and_prints_balance(agent):
    out, _ = run("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "Goodwill top-up")

    entry = CreditLedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after) == ("ADD", Decimal("10"), Decimal("10"))
    assert entry.reason == "Goodwill top-up"
    assert balance(agent) == Decimal("10")
    assert out == f"ADD 10.000000 to {named(agent)}: balance 0.000000 -> 10.000000 (entry {entry.pk})\n"


def test_credits_set_command_writes_one_entry_and_prints_balance(agent):
    top_up(agent, "25")

    out, _ = run("credits", "set", "--agent", str(agent.pk), "--amount", "5.5", "--reason", "Plan downgrade")

    entry = CreditLedgerEntry.objects.latest("id")
    assert CreditLedgerEntry.objects.count() == 2
    assert (entry.kind, entry.amount, entry.balance_after) == ("SET", Decimal("-19.5"), Decimal("5.5"))
    assert balance(agent) == Decimal("5.5")
    assert out == f"SET 5.500000 for {named(agent)}: balance 25.000000 -> 5.500000 (entry {entry.pk})\n"


def test_credits_clear_command_writes_one_entry_and_prints_balance(agent):
    top_up(agent, "25")

    out, _ = run("credits", "clear", "--agent", str(agent.pk), "--reason", "Contract ended")

    entry = CreditLedgerEntry.objects.latest("id")
    assert CreditLedgerEntry.objects.count() == 2
    assert (entry.kind, entry.amount, entry.balance_after) == ("CLEAR", Decimal("-25"), Decimal("0"))
    assert balance(agent) == Decimal("0")
    assert out == f"CLEAR {named(agent)}: balance 25.000000 -> 0.000000 (entry {entry.pk})\n"


def test_credits_command_records_the_os_user_as_actor(agent, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops")

    run("credits", "add", "--agent", str(agent.pk), "--amount", "1", "--reason", "r")

    entry = CreditLedgerEntry.objects.get()
    assert (entry.actor_label, entry.actor_user, entry.actor_api_key) == ("cli:ops", None, None)


def test_credits_command_names_an_unknown_os_user_when_there_is_none(agent, monkeypatch):
    def no_user():
        raise OSError("No username set in the environment")

    monkeypatch.setattr("getpass.getuser", no_user)

    run("credits", "add", "--agent", str(agent.pk), "--amount", "1", "--reason", "r")

    assert CreditLedgerEntry.objects.get().actor_label == "cli:unknown"


def test_credits_command_with_same_idempotency_key_applies_once(agent):
    args = ("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "r", "--idempotency-key", "k1")

    first, _ = run(*args)
    second, _ = run(*args)

    entry = CreditLedgerEntry.objects.get()
    assert balance(agent) == Decimal("10")
    assert not first.rstrip().endswith("(replayed)")
    assert second == f"ADD 10.000000 to {named(agent)}: balance 0.000000 -> 10.000000 (entry {entry.pk}) (replayed)\n"


def test_credits_command_refuses_a_reused_idempotency_key_for_another_request(agent):
    run("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "r", "--idempotency-key", "k")

    with pytest.raises(CommandError, match="Idempotency-Key was already used with a different request"):
        run("credits", "add", "--agent", str(agent.pk), "--amount", "11", "--reason", "r", "--idempotency-key", "k")

    assert CreditLedgerEntry.objects.count() == 1
    assert balance(agent) == Decimal("10")


@pytest.mark.parametrize(
    "mode_and_amount, message",
    [
        (("add", "--amount", "abc"), "amount: 'abc' is not a number."),
        (("add", "--amount=-5"), "amount: Must be greater than 0."),
        (("add", "--amount", "0"), "amount: Must be greater than 0."),
        (("add", "--amount", "1.0000001"), "amount: At most 6 decimal places."),
        (("set", "--amount=-1"), "amount: Must be 0 or more."),
        (("add",), "--amount is required for add."),
        (("set",), "--amount is required for set."),
        (("clear", "--amount", "5"), "--amount is not allowed with clear"),
    ],
)
def test_credits_command_with_bad_amount_fails_and_writes_nothing(agent, mode_and_amount, message):
    top_up(agent, "25")  # so that a clear would have had something to write

    with pytest.raises(CommandError) as excinfo:
        run("credits", *mode_and_amount, "--agent", str(agent.pk), "--reason", "r")

    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
    assert CreditLedgerEntry.objects.count() == 1
    assert balance(agent) == Decimal("25")


@pytest.mark.parametrize(
    "agent_option, message",
    [
        ("not-a-uuid", "Agent 'not-a-uuid' not found: --agent must be a UUID."),
        ("7d5e1a6c-0000-4000-8000-000000000000", "Agent 7d5e1a6c-0000-4000-8000-000000000000 not found."),
    ],
)
def test_credits_command_with_unknown_agent_fails_and_writes_nothing(agent, agent_option, message):
    with pytest.raises(CommandError) as excinfo:
        run("credits", "add", "--agent", agent_option, "--amount", "10", "--reason", "r")

    assert str(excinfo.value) == message
    assert not CreditLedgerEntry.objects.exists()


def test_credits_command_without_a_reason_fails_and_writes_nothing(agent):
    with pytest.raises(CommandError, match="reason: A reason is required."):
        run("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "   ")

    assert not CreditLedgerEntry.objects.exists()


def test_credits_command_refuses_an_unknown_mode(agent):
    with pytest.raises(CommandError, match="invalid choice: 'adjust'"):
        run("credits", "adjust", "--agent", str(agent.pk), "--amount", "10", "--reason", "r")

    assert not CreditLedgerEntry.objects.exists()


# create_api_key


def test_create_api_key_command_prints_a_key_that_validates(outlet):
    out, err = run("create_api_key", "--outlet", str(outlet.pk), "--scopes", "read", "ingest", "credits:write")

    raw = out.strip()
    assert out == f"{raw}\n"  # the key alone on stdout, once
    key = ApiKey.objects.get(prefix=raw.split(".")[0])
    assert key.is_valid(raw)
    assert (key.outlet, key.scopes) == (outlet, ["read", "ingest", "credits:write"])
    assert (key.expiry_date, key.revoked) == (None, False)
    assert "will not be shown again" in err
    assert raw not in err


def test_create_api_key_command_takes_a_name_and_an_expiry(outlet):
    out, err = run(
        "create_api_key", "--outlet", str(outlet.pk), "--scopes", "read", "--name", "BI export",
        "--expires-in-days", "30",
    )

    key = ApiKey.objects.get(prefix=out.strip().split(".")[0])
    assert key.name == "BI export"
    assert abs(key.expiry_date - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert "'BI export'" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--scopes", "read", "admin"), "scopes: Unknown scopes: admin."),
        (("--scopes", "read", "--name", "x" * 51), "name: A name of 1 to 50 characters is required."),
        (("--scopes", "read", "--expires-in-days", "0"), "--expires-in-days must be 1 or more, got 0."),
    ],
)
def test_create_api_key_command_with_bad_input_fails_and_creates_no_key(outlet, extra, message):
    with pytest.raises(CommandError) as excinfo:
        run("create_api_key", "--outlet", str(outlet.pk), *extra)

    assert message in str(excinfo.value)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    "outlet_option, message",
    [
        ("nope", "Outlet 'nope' not found: --outlet must be a UUID."),
        ("7d5e1a6c-0000-4000-8000-000000000000", "Outlet 7d5e1a6c-0000-4000-8000-000000000000 not found."),
    ],
)
def test_create_api_key_command_for_unknown_outlet_fails(outlet, outlet_option, message):
    with pytest.raises(CommandError) as excinfo:
        run("create_api_key", "--outlet", outlet_option, "--scopes", "read")

    assert str(excinfo.value) == message
    assert not ApiKey.objects.exists()


# reconcile


def test_reconcile_command_passes_on_a_clean_ledger(agent):
    top_up(agent, "25")
    services.credits_consume(
        debits={agent.pk: Decimal("2.5")}, ingest_batch_id=uuid.uuid4(), actor=services.Actor.system("test"), reason="u"
    )

    out, err = run("reconcile")

    assert out == "OK: 1 account, 2 ledger entries, 0 rollup rows consistent.\n"
    assert err == ""


def test_reconcile_command_fails_and_names_the_account_when_a_balance_drifts(agent):
    other = Agent.objects.create(outlet=agent.outlet, name="Untouched", external_id="untouched")
    top_up(agent, "25")
    top_up(other, "5")
    if connection.vendor == "postgresql":
        # PostgreSQL's own triggers refuse a drifting balance; reconcile is for drift that got past them
        # (a restore, a hand-edited replica), so switch the triggers off for this transaction only.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # settle the checks the top-ups queued
            cursor.execute("SET LOCAL session_replication_role = replica")
    CreditAccount.objects.filter(pk=agent.pk).update(balance=Decimal("99"))
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("reconcile", stdout=out, stderr=err)

    assert str(excinfo.value) == "1 mismatch found."
    assert excinfo.value.returncode == 1
    assert out.getvalue() == ""
    [line] = err.getvalue().splitlines()
    assert line.startswith(f"ledger: account {agent.pk} ({agent.name}): balance 99")


def test_reconcile_command_runs_every_registered_check(agent, monkeypatch):
    def check_rollups():
        return reconcile.CheckResult(checked="3 buckets", problems=["bucket 1 off", "bucket 2 off"])

    monkeypatch.setattr(reconcile, "CHECKS", [*reconcile.CHECKS, ("rollups", check_rollups)])
    err = io.StringIO()

    with pytest.raises(CommandError, match="^2 mismatches found.$"):
        call_command("reconcile", stdout=io.StringIO(), stderr=err)

    assert err.getvalue().splitlines() == ["rollups: bucket 1 off", "rollups: bucket 2 off"]

    clean_rollups = ("rollups", lambda: reconcile.CheckResult(checked="3 buckets"))
    monkeypatch.setattr(reconcile, "CHECKS", [reconcile.CHECKS[0], clean_rollups])
    out, _ = run("reconcile")
    assert out == "OK: 1 account, 0 ledger entries, 3 buckets consistent.\n"


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
    assert set(CreditLedgerEntry.objects.values_list("kind", flat=True)) == {"ADD", "CONSUME", "SET", "CLEAR"}
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
    assert out.startswith("OK: 12 accounts, ") and err == ""


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


def test_reconcile_counts_read_with_thousands_separators():
    assert reconcile.plural(21306, "rollup row") == "21,306 rollup rows"
    assert reconcile.plural(1, "account") == "1 account"
