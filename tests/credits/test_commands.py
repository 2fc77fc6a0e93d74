import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from config import checks
from config.checks import CheckResult
from credits import services
from credits.models import Agent, ApiKey, CreditAccount, CreditGrant, CreditLedgerEntry
from tests.commands import run
from tests.factories import AgentFactory, OutletFactory

pytestmark = pytest.mark.django_db

def top_up(agent: Agent, amount: str = "25") -> None:
    services.credits_add(agent=agent, amount=Decimal(amount), actor=services.Actor.system("test"), reason="setup")


def balance(agent: Agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def named(agent: Agent) -> str:
    return f"agent {agent.name} ({agent.pk})"


# credits add|set|clear|allocate|reclaim|void


def test_credits_add_command_writes_one_entry_and_prints_balance(agent):
    out, _ = run("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "Goodwill top-up")

    entry = CreditLedgerEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after) == ("ADD", Decimal("10"), Decimal("10"))
    assert entry.reason == "Goodwill top-up"
    assert balance(agent) == Decimal("10")
    grant = entry.created_grants.get()
    assert out == (
        f"ADD 10.000000 to {named(agent)}: balance 0.000000 -> 10.000000 "
        f"(entry {entry.pk}; grant {grant.pk}, purchase, priority 100, no expiry)\n"
    )


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


def test_credits_add_command_opens_a_grant_with_expiry_priority_and_source(agent):
    out, _ = run(
        "credits", "add", "--agent", str(agent.pk), "--amount", "30", "--reason", "Launch promo",
        "--expires-at", "2099-01-31T00:00:00+01:00", "--priority", "10", "--source", "promotion",
    )
    grant = CreditGrant.objects.get()
    assert (grant.source, grant.priority, grant.expires_at) == ("promotion", 10, datetime(2099, 1, 30, 23, tzinfo=UTC))
    assert f"grant {grant.pk}, promotion, priority 10, expires 2099-01-30T23:00:00+00:00" in out


def test_credits_add_command_to_the_pool_then_allocate_and_reclaim(agent):
    outlet = agent.outlet
    out, _ = run("credits", "add", "--pool", "--outlet", str(outlet.pk), "--amount", "100", "--reason", "Bought")
    assert out.startswith(f"ADD 100.000000 to pool of {outlet.name} ({outlet.pk}): balance 0.000000 -> 100.000000")

    out, _ = run("credits", "allocate", "--agent", str(agent.pk), "--amount", "40", "--reason", "March")
    assert out.startswith(f"ALLOCATE 40.000000 from the pool to {named(agent)}: agent balance 40.000000, pool balance 60.000000")

    out, _ = run("credits", "reclaim", "--agent", str(agent.pk), "--amount", "15", "--reason", "Month end")
    assert out.startswith(f"RECLAIM 15.000000 to the pool from {named(agent)}: agent balance 25.000000, pool balance 75.000000")


def test_credits_void_command_writes_the_grant_off(agent):
    top_up(agent, "25")
    grant = CreditGrant.objects.get()
    out, _ = run("credits", "void", "--grant", str(grant.pk), "--reason", "Refunded")
    entry = CreditLedgerEntry.objects.latest("id")
    assert out == f"VOID grant {grant.pk}: 25.000000 written off, balance 25.000000 -> 0.000000 (entry {entry.pk})\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("allocate", "--amount", "500"), "amount: Only 0 available"),
        (("void", "--grant", "999999"), "Grant not found."),
        (("void",), "--grant is required for void."),
        (("void", "--grant", "1", "--amount", "2"), "--amount is not allowed with void."),
        (("add", "--amount", "5", "--expires-at", "2000-01-01T00:00:00Z"), "expires_at: Must be in the future"),
        (("add", "--amount", "5", "--expires-at", "tomorrow"), "expires_at: Give an ISO 8601 time"),
        (("add", "--amount", "5", "--priority", "-1"), "priority: A whole number"),
        (("set", "--amount", "5", "--priority", "1"), "--priority is not allowed with set."),
        (("allocate", "--amount", "5", "--expires-at", "2999-01-01T00:00:00Z"), "--expires-at is not allowed with allocate."),
        (("add", "--amount", "5", "--pool"), "Give --agent or --pool, not both."),
    ],
)
def test_credits_command_refuses_bad_grant_and_pool_options_and_writes_nothing(agent, args, message):
    target = () if args[0] == "void" else ("--agent", str(agent.pk))
    with pytest.raises(CommandError) as excinfo:
        run("credits", *args, *target, "--reason", "r")
    assert str(excinfo.value).startswith(message)
    assert not CreditLedgerEntry.objects.exists()


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


def test_credits_command_backdates_an_entry_to_its_effective_time(agent):
    out, _ = run(
        "credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "paid by transfer",
        "--effective-at", "2026-11-20T09:30:00+01:00",
    )

    entry = CreditLedgerEntry.objects.get()
    assert entry.effective_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert entry.created_at > entry.effective_at
    assert out == (
        f"ADD 10.000000 to {named(agent)}: balance 0.000000 -> 10.000000 "
        f"(entry {entry.pk}; grant {entry.created_grants.get().pk}, purchase, priority 100, no expiry; "
        f"effective 2026-11-20T08:30:00+00:00)\n"
    )


@pytest.mark.parametrize(
    "effective_at, message",
    [
        ("soon", "effective_at: Give an ISO 8601 time with its offset"),
        ("2026-11-20T09:30:00", "effective_at: Give the offset (Z or +hh:mm)"),
        ("2999-01-01T00:00:00Z", "effective_at: Must not be in the future"),
    ],
)
def test_credits_command_refuses_an_unclear_or_future_effective_time_and_writes_nothing(agent, effective_at, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "r", "--effective-at", effective_at)

    assert not CreditLedgerEntry.objects.exists()


def test_credits_command_with_same_idempotency_key_applies_once(agent):
    args = ("credits", "add", "--agent", str(agent.pk), "--amount", "10", "--reason", "r", "--idempotency-key", "k1")

    first, _ = run(*args)
    second, _ = run(*args)

    entry = CreditLedgerEntry.objects.get()
    assert balance(agent) == Decimal("10")
    assert not first.rstrip().endswith("(replayed)")
    assert second.startswith(f"ADD 10.000000 to {named(agent)}: balance 0.000000 -> 10.000000 (entry {entry.pk}; grant")
    assert second.endswith(" (replayed)\n")


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
        ("not-a-uuid", "Agent 'not-a-uuid' not found: no agent has this id, external id or name (`manage.py outlets` lists them)."),
        ("7d5e1a6c-0000-4000-8000-000000000000", "Agent '7d5e1a6c-0000-4000-8000-000000000000' not found: no agent has this id, external id or name (`manage.py outlets` lists them)."),
    ],
)
def test_credits_command_with_unknown_agent_fails_and_writes_nothing(agent, agent_option, message):
    with pytest.raises(CommandError) as excinfo:
        run("credits", "add", "--agent", agent_option, "--amount", "10", "--reason", "r")

    assert str(excinfo.value) == message
    assert not CreditLedgerEntry.objects.exists()


def test_credits_command_takes_an_agent_by_external_id_within_an_outlet_named(agent):
    twin = AgentFactory(external_id=agent.external_id, outlet=OutletFactory(name="Beta"))

    with pytest.raises(CommandError, match=f"^Agent '{agent.external_id}' is ambiguous: it names 2 agents: "):
        run("credits", "add", "--agent", agent.external_id, "--amount", "10", "--reason", "r")
    out, _ = run("credits", "add", "--agent", agent.external_id, "--outlet", "beta", "--amount", "10", "--reason", "r")

    assert out.startswith(f"ADD 10.000000 to {named(twin)}: ")
    assert (balance(twin), balance(agent)) == (Decimal("10"), Decimal("0"))


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


def test_create_api_key_command_takes_the_outlet_by_name(outlet):
    out, _ = run("create_api_key", "--outlet", outlet.name.upper(), "--scopes", "read")

    assert ApiKey.objects.get(prefix=out.strip().split(".")[0]).outlet == outlet


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
        ("nope", "Outlet 'nope' not found: no outlet has this id or name (`manage.py outlets` lists them)."),
        ("7d5e1a6c-0000-4000-8000-000000000000", "Outlet '7d5e1a6c-0000-4000-8000-000000000000' not found: no outlet has this id or name (`manage.py outlets` lists them)."),
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

    assert out == "OK: 2 accounts, 2 ledger entries, 1 grant, 0 holds, 0 rollup rows consistent.\n"  # the agent's and its pool
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

    assert str(excinfo.value) == "2 mismatches found."
    assert excinfo.value.returncode == 1
    assert out.getvalue() == ""
    entries, grants = err.getvalue().splitlines()
    assert entries.startswith(f"ledger: account {agent.pk} ({agent.name}): balance 99")
    assert grants.startswith(f"ledger: account {agent.pk} ({agent.name}): balance 99.000000 != grants' remaining 25")


def test_reconcile_command_runs_every_registered_check(agent, monkeypatch):
    def check_rollups():
        return CheckResult(checked="3 buckets", problems=["bucket 1 off", "bucket 2 off"])

    monkeypatch.setitem(checks._CHECKS, "rollups", check_rollups)
    err = io.StringIO()

    with pytest.raises(CommandError, match="^2 mismatches found.$"):
        call_command("reconcile", stdout=io.StringIO(), stderr=err)

    assert err.getvalue().splitlines() == ["rollups: bucket 1 off", "rollups: bucket 2 off"]

    monkeypatch.setitem(checks._CHECKS, "rollups", lambda: CheckResult(checked="3 buckets"))
    out, _ = run("reconcile")
    assert out == "OK: 2 accounts, 0 ledger entries, 0 grants, 0 holds, 3 buckets consistent.\n"


# outlets


@pytest.fixture
def listed_outlets(db):
    acme = OutletFactory(name="Acme", low_balance_threshold=Decimal("10"))
    support = AgentFactory(outlet=acme, name="Support", external_id="support-1")
    sales = AgentFactory(outlet=acme, name="Sales bot", external_id="s-2", low_balance_threshold=Decimal("2"))
    top_up(support, "1234.5")
    top_up(sales, "5")
    empty = OutletFactory(name="Beta", is_active=False)
    return acme, support, sales, empty


def test_outlets_command_lists_each_outlet_with_its_agents_ids_balances_and_low_flags(listed_outlets):
    acme, support, sales, empty = listed_outlets

    out, _ = run("outlets")

    assert out.splitlines() == [
        f"Acme  {acme.pk}  2 agents  balance 1,239.500000  0 low",
        f"  s-2        Sales bot  {sales.pk}  balance 5.000000  threshold 2.000000",
        f"  support-1  Support    {support.pk}  balance 1,234.500000  threshold 10.000000",
        f"Beta  {empty.pk}  0 agents  balance 0.000000  0 low  inactive",
        "2 outlets, 2 agents, 0 low.",
    ]


def test_outlets_command_flags_a_low_balance_and_takes_one_outlet(listed_outlets):
    acme, support, sales, _ = listed_outlets
    services.credits_apply(agent=support, kind="SET", amount=Decimal("3"), actor=services.Actor.system("test"),
                           reason="r", idempotency_key=None)

    out, _ = run("outlets", "--outlet", "acme")

    assert out.splitlines()[0] == f"Acme  {acme.pk}  2 agents  balance 8.000000  1 low"
    assert out.splitlines()[2] == f"  support-1  Support    {support.pk}  balance 3.000000  threshold 10.000000  LOW"
    assert out.splitlines()[-1] == "1 outlet, 2 agents, 1 low."


def test_outlets_command_writes_csv_for_scripts(listed_outlets):
    acme, support, sales, empty = listed_outlets

    out, _ = run("outlets", "--format", "csv")

    assert out.splitlines() == [
        "outlet_id,outlet_name,outlet_active,agent_id,agent_external_id,agent_name,agent_active,balance,threshold,low",
        f"{acme.pk},Acme,true,{sales.pk},s-2,Sales bot,true,5.000000,2.000000,false",
        f"{acme.pk},Acme,true,{support.pk},support-1,Support,true,1234.500000,10.000000,false",
        f"{empty.pk},Beta,false,,,,,,,",
    ]


def test_outlets_command_for_an_unknown_outlet_fails_in_one_line(listed_outlets):
    with pytest.raises(CommandError, match="^Outlet 'gamma' not found: no outlet has this id or name"):
        run("outlets", "--outlet", "gamma")
