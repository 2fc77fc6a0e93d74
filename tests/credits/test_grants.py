import importlib
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from config.errors import ConflictError, DomainError, NotFoundError
from credits import pool, selectors, services, writeoffs
from credits.grants import GrantTerms
from credits.models import CreditAccount, CreditGrant, CreditGrantMovement, CreditLedgerEntry
from credits.selectors import with_available
from credits.services import Actor
from tests.clock import Clock
from tests.concurrency import run_in_threads
from tests.factories import AgentFactory

ACTOR = Actor.system("tests")
# PostgreSQL's own deferred checks refuse the broken rows these tests set up, at commit.
sqlite_only = pytest.mark.skipif(connection.vendor == "postgresql", reason="the database refuses the broken row")
Status = CreditGrant.Status


@pytest.fixture
def clock():
    with Clock() as clock:
        yield clock


def add(agent, amount, **terms):
    return services.credits_add(agent=agent, amount=Decimal(amount), actor=ACTOR, reason="top-up", terms=GrantTerms(**terms))


def consume(agent, amount):
    return services.credits_consume(
        debits={agent.pk: Decimal(amount)}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage"
    )[0]


def account(agent) -> CreditAccount:
    return CreditAccount.objects.get(pk=agent.pk)


def available(agent) -> Decimal:
    return selectors.balance_list().get(pk=agent.pk).available


def draws(entry) -> list[tuple[int, Decimal]]:
    return [(movement.grant_id, movement.amount) for movement in entry.movements.order_by("id")]


def test_add_opens_a_purchase_grant_with_no_expiry_at_priority_100(agent):
    grant = add(agent, "25").grant
    assert (grant.source, grant.priority, grant.expires_at, grant.amount, grant.remaining, grant.status) == (
        "purchase", 100, None, Decimal("25"), Decimal("25"), Status.ACTIVE,
    )


def test_consumption_draws_by_priority_then_soonest_expiry_then_oldest(agent, clock):
    never = add(agent, "10").grant
    later = add(agent, "10", expires_at=clock.now + timedelta(days=30)).grant
    sooner = add(agent, "10", expires_at=clock.now + timedelta(days=7)).grant
    first = add(agent, "10", priority=5).grant
    older_twin = add(agent, "10", priority=200).grant
    clock.advance(seconds=1)
    younger_twin = add(agent, "10", priority=200).grant

    entry = consume(agent, "55")

    assert CreditLedgerEntry.objects.filter(account_id=agent.pk, kind="CONSUME").count() == 1
    assert draws(entry) == [
        (first.pk, Decimal("10")), (sooner.pk, Decimal("10")), (later.pk, Decimal("10")), (never.pk, Decimal("10")),
        (older_twin.pk, Decimal("10")), (younger_twin.pk, Decimal("5")),
    ]


def test_consumption_past_every_grant_becomes_debt_that_the_next_grant_pays_first(agent):
    add(agent, "10")
    consume(agent, "25")
    assert (account(agent).balance, account(agent).debt) == (Decimal("-15"), Decimal("15"))

    grant = add(agent, "40").grant

    paid = CreditGrantMovement.objects.get(grant=grant)
    assert (paid.kind, paid.amount, grant.remaining) == ("debt", Decimal("15"), Decimal("25"))
    assert (account(agent).balance, account(agent).debt) == (Decimal("25"), Decimal("0"))


def test_a_grant_smaller_than_the_debt_is_used_up_paying_it(agent):
    consume(agent, "30")
    grant = add(agent, "10").grant
    assert (grant.remaining, grant.status, account(agent).debt) == (Decimal("0"), Status.DEPLETED, Decimal("20"))


def test_an_expired_grant_stops_counting_the_instant_it_expires_with_no_task(agent, clock):
    add(agent, "10")
    add(agent, "5", expires_at=clock.now + timedelta(hours=1))
    assert available(agent) == Decimal("15")
    clock.advance(hours=1)
    assert available(agent) == Decimal("10")
    assert account(agent).balance == Decimal("15")  # not yet written off


def test_the_next_posting_writes_the_expired_grant_off_first_and_never_draws_it(agent, clock):
    expiring = add(agent, "5", expires_at=clock.now + timedelta(minutes=1), priority=0).grant
    kept = add(agent, "10").grant
    clock.advance(minutes=2)

    entry = consume(agent, "3")

    expire = CreditLedgerEntry.objects.get(account_id=agent.pk, kind="EXPIRE")
    assert (expire.amount, expire.balance_after, expire.effective_at) == (Decimal("-5"), Decimal("10"), expiring.expires_at)
    assert expire.pk < entry.pk
    assert draws(entry) == [(kept.pk, Decimal("3"))]
    expiring.refresh_from_db()
    assert (expiring.status, expiring.remaining) == (Status.EXPIRED, Decimal("0"))
    assert writeoffs.grants_expire_due() == 0
    assert selectors.ledger_mismatches() == []


def test_the_expiry_task_writes_off_once_however_often_it_runs(agent, clock):
    add(agent, "5", expires_at=clock.now + timedelta(minutes=1))
    clock.advance(minutes=1)
    assert writeoffs.grants_expire_due() == 1
    assert writeoffs.grants_expire_due() == 0
    assert CreditLedgerEntry.objects.filter(kind="EXPIRE").count() == 1
    assert account(agent).balance == 0


def test_expire_grants_runs_every_minute_from_the_beat_schedule_and_expires():
    from config.celery import app

    entry = app.conf.beat_schedule["expire-grants"]
    assert (entry["task"], entry["schedule"], entry["options"]["expires"]) == ("credits.tasks.expire_grants", 60.0, 55)


def test_void_writes_off_the_remaining_with_one_void_entry(agent):
    grant = add(agent, "12").grant
    consume(agent, "2")
    result = writeoffs.grant_void(grant_id=grant.pk, outlet_id=agent.outlet_id, actor=ACTOR, reason="refunded")
    grant.refresh_from_db()
    assert (result.entry.kind, result.entry.amount, result.balance_after) == ("VOID", Decimal("-10"), Decimal("0"))
    assert (grant.status, grant.remaining) == (Status.VOIDED, Decimal("0"))


def test_void_twice_is_refused_and_changes_nothing(agent):
    grant = add(agent, "12").grant
    writeoffs.grant_void(grant_id=grant.pk, outlet_id=None, actor=ACTOR, reason="refunded")
    with pytest.raises(DomainError, match="voided"):
        writeoffs.grant_void(grant_id=grant.pk, outlet_id=None, actor=ACTOR, reason="again")
    assert CreditLedgerEntry.objects.filter(kind="VOID").count() == 1


def test_void_of_another_outlets_grant_is_not_found(agent):
    grant = add(agent, "12").grant
    stranger = AgentFactory()
    with pytest.raises(NotFoundError):
        writeoffs.grant_void(grant_id=grant.pk, outlet_id=stranger.outlet_id, actor=ACTOR, reason="mine now")
    grant.refresh_from_db()
    assert grant.status == Status.ACTIVE


def test_void_of_an_expired_grant_is_refused_after_writing_it_off(agent, clock):
    grant = add(agent, "12", expires_at=clock.now + timedelta(minutes=1)).grant
    clock.advance(minutes=5)
    with pytest.raises(DomainError, match="expired"):
        writeoffs.grant_void(grant_id=grant.pk, outlet_id=None, actor=ACTOR, reason="too late")
    assert not CreditLedgerEntry.objects.filter(kind="VOID").exists()


def test_set_up_opens_an_adjustment_grant_and_set_down_draws(agent):
    add(agent, "10")
    raised = services.credits_set(agent=agent, amount=Decimal("25"), actor=ACTOR, reason="set")
    assert (raised.grant.source, raised.grant.amount) == ("adjustment", Decimal("15"))
    lowered = services.credits_set(agent=agent, amount=Decimal("4"), actor=ACTOR, reason="set")
    assert sum(amount for _, amount in draws(lowered.entry)) == Decimal("21")
    assert lowered.grant is None


def test_clear_draws_every_grant_to_zero_and_forgives_debt(agent):
    add(agent, "10")
    services.credits_clear(agent=agent, actor=ACTOR, reason="clear")
    assert not CreditGrant.objects.filter(account_id=agent.pk, remaining__gt=0).exists()
    consume(agent, "7")
    entry = services.credits_clear(agent=agent, actor=ACTOR, reason="forgive").entry
    assert (entry.amount, account(agent).balance, account(agent).debt) == (Decimal("7"), 0, 0)
    assert not CreditGrant.objects.filter(entry=entry).exists()


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"expires_at": "past"}, "expires_at"),
        ({"expires_at": "naive"}, "expires_at"),
        ({"expires_at": "in 101 years"}, "expires_at"),
        ({"expires_at": "year 9999 west of UTC"}, "expires_at"),
        ({"priority": -1}, "priority"),
        ({"priority": 2**31}, "priority"),
        ({"priority": True}, "priority"),
        ({"source": "allocation"}, "source"),
        ({"source": "opening"}, "source"),
    ],
)
def test_bad_grant_terms_are_refused_naming_the_field_and_post_nothing(agent, terms, field):
    moments = {
        "past": timezone.now() - timedelta(seconds=1), "naive": timezone.now().replace(tzinfo=None) + timedelta(days=1),
        "in 101 years": timezone.now() + timedelta(days=366 * 101),
        "year 9999 west of UTC": datetime.fromisoformat("9999-12-31T23:00:00-05:00"),
    }
    terms = {key: moments.get(value, value) if key == "expires_at" else value for key, value in terms.items()}
    with pytest.raises(DomainError) as raised:
        add(agent, "5", **terms)
    assert field in raised.value.errors
    assert not CreditLedgerEntry.objects.exists()


def test_the_idempotency_fingerprint_includes_the_grant_terms(agent):
    expiry = timezone.now() + timedelta(days=3)
    common = {"agent": agent, "amount": Decimal("5"), "actor": ACTOR, "reason": "top-up", "idempotency_key": "k1"}
    first = services.credits_add(**common, terms=GrantTerms(priority=5, expires_at=expiry))
    again = services.credits_add(**common, terms=GrantTerms(priority=5, expires_at=expiry))
    assert again.replayed and again.grant == first.grant
    for changed in (GrantTerms(priority=6, expires_at=expiry), GrantTerms(priority=5), GrantTerms(source="promotion", priority=5, expires_at=expiry)):
        with pytest.raises(ConflictError):
            services.credits_add(**common, terms=changed)
    assert CreditGrant.objects.count() == 1


def test_grant_terms_go_with_add_only(agent):
    with pytest.raises(DomainError, match="Only add"):
        services.credits_apply(agent=agent, kind="SET", amount=Decimal("3"), actor=ACTOR, reason="set", terms=GrantTerms(priority=1))


@sqlite_only
def test_reconcile_finds_a_grant_that_does_not_hold_amount_less_movements(agent):
    grant = add(agent, "10").grant
    consume(agent, "4")
    CreditGrant.objects.filter(pk=grant.pk).update(remaining=Decimal("7"))
    problems = selectors.ledger_mismatches()
    assert any(f"grant {grant.pk} " in problem and "remaining 7" in problem for problem in problems)
    assert any("grants' remaining" in problem for problem in problems)


@sqlite_only
def test_reconcile_finds_debt_that_does_not_close_the_balance(agent):
    consume(agent, "4")
    CreditAccount.objects.filter(pk=agent.pk).update(debt=Decimal("3"))
    assert any("debt 3" in problem for problem in selectors.ledger_mismatches())


@sqlite_only
def test_existing_balances_become_opening_grants_or_debt(agent):
    negative = AgentFactory(outlet=agent.outlet)
    CreditAccount.objects.filter(pk=agent.pk).update(balance=Decimal("42.5"))
    CreditAccount.objects.filter(pk=negative.pk).update(balance=Decimal("-8"))
    migration = importlib.import_module("credits.migrations.0006_credit_grants")

    migration.balances_to_grants(apps, connection.schema_editor())

    opening = CreditGrant.objects.get(account_id=agent.pk)
    assert (opening.source, opening.amount, opening.remaining, opening.entry) == ("opening", Decimal("42.5"), Decimal("42.5"), None)
    assert account(negative).debt == Decimal("8")
    assert not CreditGrant.objects.filter(account_id=negative.pk).exists()


def test_balances_show_available_debt_and_the_soonest_expiry_with_its_amount(agent, clock):
    add(agent, "10")
    add(agent, "4", expires_at=clock.now + timedelta(days=2))
    add(agent, "3", expires_at=clock.now + timedelta(days=2))
    add(agent, "6", expires_at=clock.now + timedelta(days=9))
    row = selectors.balance_list().get(pk=agent.pk)
    assert (row.available, row.debt, row.next_expiry_at, row.next_expiry_amount) == (
        Decimal("23"), Decimal("0"), clock.now + timedelta(days=2), Decimal("7"),
    )


def test_available_is_exact_to_the_last_place_after_an_expiry(agent, clock):
    add(agent, "0.01")
    add(agent, "334.16", expires_at=clock.now + timedelta(minutes=1))
    clock.advance(minutes=2)
    assert available(agent) == Decimal("0.01")


def test_a_low_balance_counts_usable_credit_not_expired_grants(agent, clock):
    agent.low_balance_threshold = Decimal("5")
    agent.save()
    add(agent, "20", expires_at=clock.now + timedelta(minutes=1))
    add(agent, "2")
    assert not selectors.balance_list().get(pk=agent.pk).is_low
    clock.advance(minutes=1)
    assert selectors.balance_list().get(pk=agent.pk).is_low


# Each operation's effect on the model: grants as [priority, expires_at, order, remaining], and debt.
grant_amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)


class GrantMachine(RuleBasedStateMachine):
    """Add (random expiry and priority) to the agent or the pool, set, clear, consume, allocate, reclaim, void, the
    expiry task and time moving forward, checked against a model: after every step the invariants hold, available
    never counts an expired grant, draws follow the order, and nothing expired is ever drawn."""

    def __init__(self):
        super().__init__()
        self.clock = Clock().__enter__()
        self.agent = AgentFactory()
        self.outlet = self.agent.outlet
        self.model: dict[int, dict] = {}  # grant id -> its expected state
        self.debt = Decimal(0)

    def teardown(self):
        self.clock.__exit__()

    def usable(self, owner="agent", sources=None):
        return {
            pk: g for pk, g in self.model.items()
            if g["owner"] == owner and g["remaining"] > 0 and (g["expires_at"] is None or g["expires_at"] > self.clock.now)
            and (sources is None or g["source"] in sources)
        }

    def held(self, owner="agent", sources=None):
        return sum((g["remaining"] for g in self.usable(owner, sources).values()), Decimal(0))

    def write_off_expired(self):
        for grant in self.model.values():
            if grant["expires_at"] is not None and grant["expires_at"] <= self.clock.now:
                grant["remaining"] = Decimal(0)

    def draw(self, amount, owner="agent", sources=None):
        def order(item):
            pk, grant = item
            return grant["priority"], grant["expires_at"] is None, grant["expires_at"] or 0, pk

        expected = []
        for pk, grant in sorted(self.usable(owner, sources).items(), key=order):
            take = min(grant["remaining"], amount)
            if take:
                grant["remaining"] -= take
                amount -= take
                expected.append((pk, take))
        self.debt += amount
        return expected

    def open(self, grant, amount, owner="agent"):
        pays = min(self.debt, amount) if owner == "agent" else Decimal(0)
        self.debt -= pays
        self.model[grant.pk] = {
            "owner": owner, "source": grant.source, "priority": grant.priority, "expires_at": grant.expires_at,
            "remaining": amount - pays,
        }

    @rule(amount=grant_amounts, priority=st.integers(0, 3), expires_in=st.none() | st.integers(1, 120), to_pool=st.booleans())
    def add(self, amount, priority, expires_in, to_pool):
        terms = GrantTerms(priority=priority, expires_at=None if expires_in is None else self.clock.now + timedelta(minutes=expires_in))
        if to_pool:
            result = services.pool_add(outlet=self.outlet, amount=amount, actor=ACTOR, reason="pack", terms=terms)
        else:
            result = services.credits_add(agent=self.agent, amount=amount, actor=ACTOR, reason="top-up", terms=terms)
        self.write_off_expired()
        self.open(result.grant, amount, "pool" if to_pool else "agent")

    @rule(amount=grant_amounts)
    def consume(self, amount):
        entry = consume(self.agent, amount)
        self.write_off_expired()
        assert draws(entry) == self.draw(amount)

    @rule(amount=grant_amounts, reclaim=st.booleans())
    def move(self, amount, reclaim):
        self.write_off_expired()
        source, sources = ("agent", [CreditGrant.Source.ALLOCATION]) if reclaim else ("pool", None)
        operation = pool.pool_reclaim if reclaim else pool.pool_allocate
        if amount > self.held(source, sources):
            with pytest.raises(DomainError, match="Only"):
                operation(agent=self.agent, amount=amount, actor=ACTOR, reason="move")
            return
        result = operation(agent=self.agent, amount=amount, actor=ACTOR, reason="move")
        source_entry, target_entry = (result.agent_entry, result.pool_entry) if reclaim else (result.pool_entry, result.agent_entry)
        expected = self.draw(amount, source, sources)
        assert draws(source_entry) == expected
        opened = list(CreditGrant.objects.filter(entry=target_entry).order_by("id"))
        assert [(grant.metadata["from_grant"], grant.amount) for grant in opened] == expected
        for grant in opened:
            assert (grant.priority, grant.expires_at) == (self.model[grant.metadata["from_grant"]]["priority"], self.model[grant.metadata["from_grant"]]["expires_at"])
            self.open(grant, grant.amount, "pool" if reclaim else "agent")

    @rule(amount=st.decimals(min_value=0, max_value=500, places=2))
    def set(self, amount):
        result = services.credits_set(agent=self.agent, amount=amount, actor=ACTOR, reason="set")
        self.write_off_expired()
        before = self.held() - self.debt
        if amount > before:
            self.open(result.grant, amount - before)
        elif amount < before:
            assert draws(result.entry) == self.draw(before - amount)

    @rule()
    def clear(self):
        result = services.credits_clear(agent=self.agent, actor=ACTOR, reason="clear")
        self.write_off_expired()
        if self.debt:
            self.debt = Decimal(0)
        else:
            assert draws(result.entry) == self.draw(self.held())

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def void(self, data):
        pk = data.draw(st.sampled_from(sorted(self.model)))
        self.write_off_expired()
        if self.model[pk]["remaining"] > 0:
            writeoffs.grant_void(grant_id=pk, outlet_id=self.outlet.pk, actor=ACTOR, reason="void")
            self.model[pk]["remaining"] = Decimal(0)
        else:
            with pytest.raises(DomainError):
                writeoffs.grant_void(grant_id=pk, outlet_id=self.outlet.pk, actor=ACTOR, reason="void")

    @rule(minutes=st.integers(1, 90))
    def time_passes(self, minutes):
        self.clock.advance(minutes=minutes)

    @rule()
    def expiry_task(self):
        writeoffs.grants_expire_due()
        self.write_off_expired()

    @invariant()
    def available_counts_usable_grants_only(self):
        assert available(self.agent) == self.held() - self.debt
        pool_account = with_available(CreditAccount.objects.filter(outlet=self.outlet, agent=None)).get()
        assert pool_account.available == self.held("pool")

    @invariant()
    def grants_hold_what_the_model_says(self):
        unwritten = {pk for pk, g in self.model.items() if g["expires_at"] is not None and g["expires_at"] <= self.clock.now}
        stored = dict(CreditGrant.objects.filter(outlet=self.outlet).values_list("pk", "remaining"))
        assert {pk: value for pk, value in stored.items() if pk not in unwritten} == {
            pk: g["remaining"] for pk, g in self.model.items() if pk not in unwritten
        }
        assert account(self.agent).debt == self.debt

    @invariant()
    def reconcile_passes(self):
        assert selectors.ledger_mismatches() == []


GrantMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class TestGrantStateMachine(GrantMachine.TestCase, HypothesisTestCase):
    pass


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE credits_creditgrant SET remaining = remaining - 1 WHERE account_id = %s", "holds 7.000000 but|grants hold 7"),
        ("UPDATE credits_creditaccount SET debt = 1 WHERE id = %s", "its grants hold"),
        ("UPDATE credits_creditgrantmovement SET amount = 1", "append-only"),
    ],
)
def test_the_database_refuses_grants_that_do_not_add_up(agent, statement, refusal):
    add(agent, "10")
    services.credits_consume(debits={agent.pk: Decimal("2")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")
    with pytest.raises(Exception, match=refusal), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [agent.pk] if "%s" in statement else [])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_expiry_task_and_a_concurrent_posting_expire_a_grant_once():
    agent = AgentFactory()
    now = timezone.now()
    for index in range(10):
        services.credits_add(
            agent=agent, amount=Decimal("1"), actor=ACTOR, reason="promo",
            terms=GrantTerms(source="promotion", expires_at=now + timedelta(seconds=1 + index / 100)),
        )
    add(agent, "100")
    while timezone.now() <= now + timedelta(seconds=1.2):
        pass

    def post(worker):
        if worker % 2:
            writeoffs.grants_expire_due()
        else:
            consume(agent, "1")

    assert run_in_threads(6, post) == []

    assert CreditLedgerEntry.objects.filter(kind="EXPIRE").count() == 10
    assert CreditGrantMovement.objects.filter(kind="write_off").count() == 10
    assert selectors.ledger_mismatches() == []
