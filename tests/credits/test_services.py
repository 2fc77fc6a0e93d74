import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from config.errors import ConflictError, DomainError, NotFoundError
from credits import selectors, services
from credits.models import CreditAccount, CreditLedgerEntry
from credits.services import Actor
from tests.concurrency import run_in_threads
from tests.factories import AgentFactory, OutletFactory

ACTOR = Actor.system("tests")
amounts = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6)


def balance(agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def ledger_sum(agent) -> Decimal:
    return sum((entry.amount for entry in CreditLedgerEntry.objects.filter(account_id=agent.pk)), Decimal(0))


class LedgerMachine(RuleBasedStateMachine):
    """Random add/set/clear/consume/adjust: the balance is the sum of the entries after every step."""

    def __init__(self):
        super().__init__()
        self.agent = AgentFactory()
        self.expected = Decimal(0)

    @rule(amount=amounts)
    def add(self, amount):
        services.credits_add(agent=self.agent, amount=amount, actor=ACTOR, reason="top-up")
        self.expected += amount

    @rule(amount=st.decimals(min_value=0, max_value=100000, places=6))
    def set(self, amount):
        services.credits_set(agent=self.agent, amount=amount, actor=ACTOR, reason="set")
        self.expected = amount

    @rule()
    def clear(self):
        services.credits_clear(agent=self.agent, actor=ACTOR, reason="clear")
        self.expected = Decimal(0)

    @rule(amount=amounts)
    def consume(self, amount):
        services.credits_consume(debits={self.agent.pk: amount}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")
        self.expected -= amount

    @rule(amount=amounts, negative=st.booleans())
    def adjust(self, amount, negative):
        signed = -amount if negative else amount
        services.credits_adjust(agent=self.agent, amount=signed, actor=ACTOR, reason="correction")
        self.expected += signed

    @invariant()
    def balance_is_sum_of_entries(self):
        assert balance(self.agent) == ledger_sum(self.agent) == self.expected

    @invariant()
    def chain_is_consistent(self):
        assert selectors.ledger_mismatches() == []


LedgerMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class TestLedgerStateMachine(LedgerMachine.TestCase, HypothesisTestCase):
    pass


def test_new_agent_has_one_account_at_zero(agent):
    assert CreditAccount.objects.filter(agent=agent).count() == 1
    assert balance(agent) == 0


def test_add_records_delta_and_balance_after(agent):
    result = services.credits_add(agent=agent, amount=Decimal("12.5"), actor=ACTOR, reason="top-up")
    assert (result.balance_before, result.balance_after) == (0, Decimal("12.5"))
    entry = result.entry
    assert (entry.kind, entry.amount, entry.balance_after, entry.actor_label) == ("ADD", Decimal("12.5"), Decimal("12.5"), "system:tests")


def test_set_and_clear_record_the_delta_that_reaches_the_new_balance(agent):
    services.credits_add(agent=agent, amount=Decimal("30"), actor=ACTOR, reason="top-up")
    set_entry = services.credits_set(agent=agent, amount=Decimal("8"), actor=ACTOR, reason="set").entry
    clear_entry = services.credits_clear(agent=agent, actor=ACTOR, reason="clear").entry
    assert (set_entry.amount, set_entry.balance_after) == (Decimal("-22"), Decimal("8"))
    assert (clear_entry.amount, clear_entry.balance_after) == (Decimal("-8"), Decimal("0"))


@pytest.mark.parametrize(
    ("operation", "amount"),
    [
        (services.credits_add, Decimal("0")),
        (services.credits_add, Decimal("-1")),
        (services.credits_set, Decimal("-0.000001")),
        (services.credits_adjust, Decimal("0")),
        (services.credits_add, "1.0000001"),
        (services.credits_add, "abc"),
        (services.credits_add, "NaN"),
        (services.credits_add, "1e20"),
        (services.credits_add, "1e400"),
        (services.credits_add, "-1e-400"),
    ],
)
def test_invalid_amount_is_refused_and_writes_nothing(agent, operation, amount):
    with pytest.raises(DomainError) as raised:
        operation(agent=agent, amount=amount, actor=ACTOR, reason="bad")
    assert "amount" in raised.value.errors
    assert not CreditLedgerEntry.objects.exists()


LARGEST = Decimal("99999999999999")  # whole: SQLite keeps 14 digits and 6 places only as a float


@pytest.mark.parametrize("operation", [services.credits_add, services.credits_adjust])
def test_a_posting_that_would_take_the_balance_past_the_ledgers_limit_is_refused(agent, operation):
    services.credits_set(agent=agent, amount=LARGEST, actor=ACTOR, reason="as high as it goes")
    with pytest.raises(services.BalanceLimitError) as raised:
        operation(agent=agent, amount=Decimal(1), actor=ACTOR, reason="too far")
    assert "14 digits" in raised.value.errors["amount"][0]
    assert CreditLedgerEntry.objects.count() == 1 and CreditAccount.objects.get(pk=agent.pk).balance == LARGEST


def test_consumption_past_the_ledgers_limit_names_the_agents_and_posts_nothing(outlet):
    low, fine = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    services.credits_adjust(agent=low, amount=-LARGEST + 1, actor=ACTOR, reason="deep in debt")
    with pytest.raises(services.BalanceLimitError) as raised:
        services.credits_consume(
            debits={low.pk: Decimal("2"), fine.pk: Decimal("2")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage"
        )
    assert raised.value.agent_ids == [low.pk]
    assert not CreditLedgerEntry.objects.filter(kind=CreditLedgerEntry.Kind.CONSUME).exists()


def test_blank_reason_is_refused(agent):
    with pytest.raises(DomainError) as raised:
        services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="   ")
    assert "reason" in raised.value.errors


def test_add_credits_twice_with_same_key_applies_once(agent):
    first = services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up", idempotency_key="k-1")
    again = services.credits_add(agent=agent, amount=Decimal("5.000000"), actor=ACTOR, reason="top-up", idempotency_key="k-1")
    assert again.replayed and not first.replayed
    assert again.entry.pk == first.entry.pk
    assert again.balance_before == 0
    assert balance(agent) == Decimal("5")


def test_same_key_with_a_different_request_is_a_conflict(agent):
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up", idempotency_key="k-1")
    with pytest.raises(ConflictError):
        services.credits_add(agent=agent, amount=Decimal("6"), actor=ACTOR, reason="top-up", idempotency_key="k-1")
    other_agent = AgentFactory(outlet=agent.outlet)
    with pytest.raises(ConflictError):
        services.credits_add(agent=other_agent, amount=Decimal("5"), actor=ACTOR, reason="top-up", idempotency_key="k-1")
    assert balance(agent) == Decimal("5")


def test_idempotency_keys_are_scoped_per_outlet(agent):
    elsewhere = AgentFactory()
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up", idempotency_key="shared")
    result = services.credits_add(agent=elsewhere, amount=Decimal("7"), actor=ACTOR, reason="top-up", idempotency_key="shared")
    assert not result.replayed
    assert balance(elsewhere) == Decimal("7")


def test_consume_posts_one_entry_per_agent_and_may_overdraw(outlet):
    first, second = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    services.credits_add(agent=first, amount=Decimal("10"), actor=ACTOR, reason="top-up")
    batch = uuid.uuid4()
    entries = services.credits_consume(
        debits={first.pk: Decimal("4"), second.pk: Decimal("2.5"), AgentFactory(outlet=outlet).pk: Decimal("0")},
        ingest_batch_id=batch,
        actor=ACTOR,
        reason="usage batch",
    )
    assert len(entries) == 2
    assert balance(first) == Decimal("6")
    assert balance(second) == Decimal("-2.5")
    assert set(CreditLedgerEntry.objects.filter(ingest_batch_id=batch).values_list("kind", flat=True)) == {"CONSUME"}


def test_the_same_batch_cannot_debit_an_account_twice(agent):
    batch = uuid.uuid4()
    services.credits_consume(debits={agent.pk: Decimal("1")}, ingest_batch_id=batch, actor=ACTOR, reason="usage")
    with pytest.raises(IntegrityError), transaction.atomic():
        services.credits_consume(debits={agent.pk: Decimal("1")}, ingest_batch_id=batch, actor=ACTOR, reason="usage")
    assert balance(agent) == Decimal("-1")


def test_consume_for_an_unknown_agent_is_not_found(db):
    with pytest.raises(NotFoundError):
        services.credits_consume(debits={uuid.uuid4(): Decimal("1")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="u")


def test_clear_many_writes_one_clear_entry_per_account(outlet):
    agents = [AgentFactory(outlet=outlet) for _ in range(3)]
    for agent in agents:
        services.credits_add(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="top-up")
    assert services.credits_clear_many(agents=agents, actor=ACTOR, reason="season end") == 3
    assert CreditLedgerEntry.objects.filter(kind="CLEAR").count() == 3
    assert all(balance(agent) == 0 for agent in agents)


def test_apply_needs_an_amount_except_for_clear(agent):
    with pytest.raises(DomainError) as raised:
        services.credits_apply(agent=agent, kind="SET", amount=None, actor=ACTOR, reason="x")
    assert "amount" in raised.value.errors
    assert services.credits_apply(agent=agent, kind="CLEAR", amount=None, actor=ACTOR, reason="x").entry.kind == "CLEAR"


def test_ledger_entries_refuse_save_after_create_and_delete(agent):
    entry = services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="top-up").entry
    entry.amount = Decimal("100")
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        CreditLedgerEntry.objects.filter(pk=entry.pk).update(amount=Decimal("100"))
    with pytest.raises(TypeError):
        CreditLedgerEntry.objects.all().delete()
    assert CreditLedgerEntry.objects.get(pk=entry.pk).amount == Decimal("1")


def test_api_key_create_refuses_unknown_scopes(outlet):
    with pytest.raises(DomainError) as raised:
        services.api_key_create(outlet=outlet, name="bi", scopes=["read", "admin"])
    assert "admin" in raised.value.message


def test_api_key_revoke_revokes_for_good(outlet):
    key, raw = services.api_key_create(outlet=outlet, name="bi", scopes=["read"])
    assert services.api_key_revoke(api_keys=[key]) == 1
    key.refresh_from_db()
    assert key.revoked and key.is_valid(raw)


# PostgreSQL: what the database itself guarantees.

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_adds_of_one_leave_the_balance_exactly_n_higher():
    agent = AgentFactory()
    services.credits_add(agent=agent, amount=Decimal("7"), actor=ACTOR, reason="start")

    def add_25(_):
        for _ in range(25):
            services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="parallel")

    assert run_in_threads(20, add_25) == []
    assert balance(agent) == Decimal("507")
    assert CreditLedgerEntry.objects.filter(account_id=agent.pk).count() == 501
    assert selectors.ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_key_apply_once():
    agent = AgentFactory()
    results = []

    def add(_):
        results.append(
            services.credits_add(agent=agent, amount=Decimal("10"), actor=ACTOR, reason="retry", idempotency_key="same")
        )

    assert run_in_threads(10, add) == []
    assert balance(agent) == Decimal("10")
    assert len({result.entry.pk for result in results}) == 1
    assert sum(not result.replayed for result in results) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_consumes_and_adds_never_deadlock_or_lose_a_debit():
    outlet = OutletFactory()
    agents = [AgentFactory(outlet=outlet) for _ in range(4)]

    def work(index):
        for step in range(10):
            # Batches name the agents in different orders; the service locks them in key order.
            ordered = agents if index % 2 else list(reversed(agents))
            services.credits_consume(
                debits={agent.pk: Decimal("1") for agent in ordered}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="u"
            )
            services.credits_add(agent=ordered[step % 4], amount=Decimal("2"), actor=ACTOR, reason="top-up")

    assert run_in_threads(6, work) == []
    assert sum(balance(agent) for agent in agents) == Decimal(-240 + 120)
    assert selectors.ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credits_creditledgerentry SET amount = 0",
        "DELETE FROM credits_creditledgerentry",
        "TRUNCATE credits_creditledgerentry CASCADE",
    ],
)
def test_database_refuses_raw_update_delete_and_truncate_of_ledger(agent, statement):
    services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="top-up")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL ledgerline.allow_truncate = 'off'")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses to run over pending deferred checks
        cursor.execute(statement)
    assert CreditLedgerEntry.objects.count() == 1


@pytest.mark.postgres
def test_database_refuses_an_entry_that_breaks_the_balance_chain(agent):
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    with pytest.raises(IntegrityError, match="chain"), transaction.atomic():
        CreditLedgerEntry.objects.create(
            outlet=agent.outlet, account_id=agent.pk, kind="ADD", amount=Decimal("1"), balance_after=Decimal("99"),
            actor_label="raw", reason="forged",
        )


@pytest.mark.postgres
def test_database_refuses_a_balance_that_is_not_the_ledger_total(agent):
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    with pytest.raises(IntegrityError, match="ledger ends at"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE credits_creditaccount SET balance = 500 WHERE agent_id = %s", [agent.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# effective_at: when a change took effect, beside created_at (when it was posted)


def test_an_entry_takes_effect_when_it_is_posted_by_default(agent):
    entry = services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up").entry

    entry.refresh_from_db()
    assert entry.effective_at == entry.created_at


@pytest.mark.parametrize("operation", ["add", "set", "clear", "adjust", "apply"])
def test_an_operator_posting_backdated_takes_effect_then_and_is_posted_now(agent, operation):
    paid_at = timezone.now() - timedelta(days=12, hours=3)
    kwargs = {"agent": agent, "actor": ACTOR, "reason": "paid by bank transfer", "effective_at": paid_at}
    call = {
        "add": lambda: services.credits_add(amount=Decimal("5"), **kwargs),
        "set": lambda: services.credits_set(amount=Decimal("5"), **kwargs),
        "clear": lambda: services.credits_clear(**kwargs),
        "adjust": lambda: services.credits_adjust(amount=Decimal("-5"), **kwargs),
        "apply": lambda: services.credits_apply(kind="ADD", amount=Decimal("5"), **kwargs),
    }[operation]
    before = timezone.now()

    entry = call().entry

    entry.refresh_from_db()
    assert entry.effective_at == paid_at
    assert entry.created_at >= before


@pytest.mark.parametrize(
    "effective_at, message",
    [
        (lambda now: now + timedelta(minutes=1), "effective_at: Must not be in the future"),
        (lambda now: now.replace(tzinfo=None) - timedelta(days=1), "effective_at: Give the offset"),
    ],
)
def test_an_effective_time_in_the_future_or_without_offset_is_refused(agent, effective_at, message):
    with pytest.raises(DomainError, match=message):
        services.credits_add(
            agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up", effective_at=effective_at(timezone.now())
        )

    assert not CreditLedgerEntry.objects.exists()


def test_parse_effective_at_refuses_text_that_is_not_an_iso_time():
    assert services.parse_effective_at("2026-11-21T10:00:00+01:00") == datetime(2026, 11, 21, 9, tzinfo=UTC)
    for text in ("yesterday", "2026-11-21\x00", ""):
        with pytest.raises(DomainError, match="effective_at: Give an ISO 8601 time"):
            services.parse_effective_at(text)


def test_a_retry_with_the_same_key_and_another_effective_time_is_a_conflict(agent):
    paid_at = timezone.now() - timedelta(days=2)
    request = {"agent": agent, "amount": Decimal("5"), "actor": ACTOR, "reason": "top-up", "idempotency_key": "k"}
    services.credits_add(**request, effective_at=paid_at)

    assert services.credits_add(**request, effective_at=paid_at).replayed
    with pytest.raises(ConflictError):
        services.credits_add(**request, effective_at=paid_at - timedelta(days=1))
    with pytest.raises(ConflictError):
        services.credits_add(**request)


def test_consumption_takes_effect_at_the_latest_usage_and_never_after_now(agent):
    other = AgentFactory(outlet=agent.outlet)
    used = timezone.now() - timedelta(days=3)

    entries = services.credits_consume(
        debits={agent.pk: Decimal("2"), other.pk: Decimal("1")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR,
        reason="usage", used_at={agent.pk: used, other.pk: timezone.now() + timedelta(minutes=5)},
    )

    effective = {entry.account_id: entry.effective_at for entry in entries}
    assert effective[agent.pk] == used
    assert effective[other.pk] == entries[0].created_at


def test_reconcile_names_an_entry_that_takes_effect_after_its_posting(agent):
    entry = services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up").entry
    later = timezone.now() + timedelta(days=1)
    # The database refuses such a row; reconcile is for rows that got past it (a restore, a hand-edited replica).
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("ALTER TABLE credits_creditledgerentry DROP CONSTRAINT ledger_effective_not_after_posting")
            cursor.execute("UPDATE credits_creditledgerentry SET effective_at = %s", [later])
        else:
            cursor.execute("PRAGMA ignore_check_constraints = ON")
            cursor.execute("UPDATE credits_creditledgerentry SET effective_at = %s", [later.isoformat()])
            cursor.execute("PRAGMA ignore_check_constraints = OFF")

    [problem] = selectors.ledger_mismatches()
    assert problem.startswith(f"entry {entry.pk} of account {agent.pk}: takes effect at")
