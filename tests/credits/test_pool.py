import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from config.errors import ConflictError, DomainError, NotFoundError
from credits import alerts, pool, selectors, services
from credits.grants import GrantTerms
from credits.models import CreditAccount, CreditAlert, CreditGrant, CreditLedgerEntry
from credits.services import Actor
from tests.clock import Clock
from tests.concurrency import run_in_threads
from tests.factories import AgentFactory, OutletFactory

ACTOR = Actor.system("tests")

# PostgreSQL's deferred balance check refuses these broken rows itself, at commit.
sqlite_only = pytest.mark.skipif(connection.vendor == "postgresql", reason="the database refuses the broken row")
BEFORE = [("credits", "0004_ledger_effective_at")]


def test_a_new_outlet_opens_its_pool_account_with_no_agent(outlet):
    pool = selectors.pool_account_get(outlet_id=outlet.pk)
    assert (pool.agent_id, pool.outlet_id, pool.balance, pool.is_pool) == (None, outlet.pk, Decimal("0"), True)


def test_an_agents_account_keeps_the_agents_id_and_outlet(agent):
    assert (agent.account.pk, agent.account.outlet_id, agent.account.is_pool) == (agent.pk, agent.outlet_id, False)


def test_the_database_allows_one_pool_per_outlet(outlet):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.create(outlet=outlet)


@sqlite_only
def test_the_database_refuses_an_agent_account_under_another_id(outlet):
    agent = AgentFactory(outlet=outlet)
    CreditAccount.objects.filter(agent=agent).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.create(id=uuid.uuid4(), agent=agent, outlet=outlet)


def test_the_pool_of_an_unknown_outlet_is_not_found(db):
    with pytest.raises(NotFoundError):
        selectors.pool_account_get(outlet_id=uuid.uuid4())


@pytest.mark.django_db(transaction=True)
def test_locked_accounts_and_the_locked_pool_are_the_rows_asked_for(outlet, agent):
    pool = selectors.pool_account_get(outlet_id=outlet.pk)
    with transaction.atomic():
        assert sorted(services.locked_accounts([agent.pk, pool.pk])) == sorted([agent.pk, pool.pk])
        assert services.locked_pool_account(outlet.pk).pk == pool.pk
    with pytest.raises(NotFoundError), transaction.atomic():
        services.locked_pool_account(uuid.uuid4())


def test_balances_and_their_totals_count_agents_only(outlet, agent):
    services.credits_add(agent=agent, amount=Decimal("5"), actor=Actor.system("test"), reason="top-up")
    accounts = selectors.balance_list(outlet_id=outlet.pk)
    assert [account.pk for account in accounts] == [agent.pk]
    totals = selectors.balance_totals(accounts)
    assert (totals["balance"], totals["agents"]) == (Decimal("5"), 1)


def test_a_pool_below_zero_raises_no_low_balance_alert(outlet):
    outlet.low_balance_threshold = Decimal("10")
    outlet.save()
    pool = selectors.pool_account_get(outlet_id=outlet.pk)
    pool.balance = Decimal("-1")
    assert alerts.alerts_evaluate(accounts=[pool]) == []
    assert not CreditAlert.objects.exists()


def test_the_account_admin_lists_agents_and_the_outlet_page_shows_the_pool(admin_client, outlet, agent):
    listing = admin_client.get("/admin/credits/creditaccount/").content.decode()
    assert agent.name in listing and "Pool" not in listing
    page = admin_client.get(f"/admin/credits/outlet/{outlet.pk}/change/").content.decode()
    assert "pool balance" in page.lower()


@sqlite_only
def test_reconcile_names_a_pool_whose_balance_is_not_its_ledger(outlet):
    CreditAccount.objects.filter(outlet=outlet, agent__isnull=True).update(balance=Decimal("3"))
    assert any("pool of" in problem for problem in selectors.ledger_mismatches())


@sqlite_only
def test_reconcile_names_an_outlet_without_a_pool(outlet):
    CreditAccount.objects.filter(outlet=outlet, agent__isnull=True).delete()
    assert selectors.ledger_mismatches() == [f"outlet {outlet.pk}: has no pool account"]


def _migrate(targets=None):
    """To `targets`, or forward to the newest migrations, where the models of the code stand."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_accounts_entries_and_alerts_and_opens_each_outlets_pool():
    apps = _migrate(BEFORE)
    try:
        Outlet, Agent = apps.get_model("credits", "Outlet"), apps.get_model("credits", "Agent")
        Account, Entry = apps.get_model("credits", "CreditAccount"), apps.get_model("credits", "CreditLedgerEntry")
        Alert = apps.get_model("credits", "CreditAlert")
        outlet = Outlet.objects.create(name="Old")
        agent = Agent.objects.create(outlet=outlet, name="A", external_id="a")
        now = timezone.now()
        with transaction.atomic():
            account = Account.objects.create(agent=agent, balance=Decimal("-2"))
            Entry.objects.create(
                outlet=outlet, account=account, kind="CONSUME", amount=Decimal("-2"), balance_after=Decimal("-2"),
                actor_label="t", reason="used", effective_at=now, created_at=now,
            )
            Alert.objects.create(
                outlet=outlet, account=account, kind="depleted", threshold=Decimal("0"), opening_balance=Decimal("-2"),
                opened_at=now, depleted_at=now,
            )
    finally:
        _migrate()
    migrated = CreditAccount.objects.get(agent_id=agent.pk)
    assert (migrated.pk, migrated.outlet_id, migrated.balance) == (agent.pk, outlet.pk, Decimal("-2"))
    assert CreditLedgerEntry.objects.get().account_id == agent.pk
    assert CreditAlert.objects.get().account_id == agent.pk
    pool = selectors.pool_account_get(outlet_id=outlet.pk)
    assert pool.pk != agent.pk and pool.agent_id is None
    assert selectors.ledger_mismatches() == []


def pool_add(outlet, amount, **terms):
    return services.pool_add(outlet=outlet, amount=Decimal(amount), actor=ACTOR, reason="bought", terms=GrantTerms(**terms))


def test_allocate_draws_pool_grants_in_order_and_opens_an_allocation_grant_per_grant_keeping_its_expiry(agent):
    expiry = timezone.now() + timedelta(days=30)
    promotion = pool_add(agent.outlet, "10", source="promotion", priority=10, expires_at=expiry).grant
    purchase = pool_add(agent.outlet, "50").grant

    result = pool.pool_allocate(agent=agent, amount=Decimal("25"), actor=ACTOR, reason="for March")

    assert (result.pool_entry.kind, result.pool_entry.amount, result.pool_entry.balance_after) == ("ALLOCATE", Decimal("-25"), Decimal("35"))
    assert (result.agent_entry.kind, result.agent_entry.amount, result.agent_entry.balance_after) == ("ALLOCATE", Decimal("25"), Decimal("25"))
    opened = CreditGrant.objects.filter(account_id=agent.pk).order_by("id")
    assert [(g.source, g.amount, g.priority, g.expires_at, g.metadata["from_grant"]) for g in opened] == [
        ("allocation", Decimal("10"), 10, expiry, promotion.pk),
        ("allocation", Decimal("15"), 100, None, purchase.pk),
    ]
    assert selectors.ledger_mismatches() == []


def test_allocating_more_than_the_pool_holds_moves_nothing(agent):
    pool_add(agent.outlet, "10")
    with pytest.raises(DomainError, match="Only 10"):
        pool.pool_allocate(agent=agent, amount=Decimal("10.01"), actor=ACTOR, reason="too much")
    assert not CreditLedgerEntry.objects.filter(kind="ALLOCATE").exists()
    assert selectors.pool_account_get(outlet_id=agent.outlet_id).balance == Decimal("10")


def test_an_allocation_pays_the_agents_debt_first(agent):
    pool_add(agent.outlet, "10")
    services.credits_consume(debits={agent.pk: Decimal("4")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")
    pool.pool_allocate(agent=agent, amount=Decimal("10"), actor=ACTOR, reason="cover")
    account = CreditAccount.objects.get(pk=agent.pk)
    assert (account.balance, account.debt) == (Decimal("6"), Decimal("0"))


def test_reclaim_moves_unused_allocations_back_but_not_purchases(agent):
    pool_add(agent.outlet, "20")
    pool.pool_allocate(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="for March")
    services.credits_add(agent=agent, amount=Decimal("100"), actor=ACTOR, reason="own purchase")
    services.credits_consume(debits={agent.pk: Decimal("5")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")

    with pytest.raises(DomainError, match="Only 15"):
        pool.pool_reclaim(agent=agent, amount=Decimal("16"), actor=ACTOR, reason="month end")
    result = pool.pool_reclaim(agent=agent, amount=Decimal("15"), actor=ACTOR, reason="month end")

    assert (result.agent_entry.amount, result.pool_entry.amount) == (Decimal("-15"), Decimal("15"))
    assert selectors.pool_account_get(outlet_id=agent.outlet_id).balance == Decimal("15")
    assert CreditAccount.objects.get(pk=agent.pk).balance == Decimal("100")
    assert selectors.ledger_mismatches() == []


def test_allocate_twice_with_the_same_key_moves_once_and_replays_both_sides(agent):
    pool_add(agent.outlet, "20")
    first = pool.pool_allocate(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="r", idempotency_key="alloc-1")
    again = pool.pool_allocate(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="r", idempotency_key="alloc-1")
    assert again.replayed and (again.agent_entry, again.pool_entry) == (first.agent_entry, first.pool_entry)
    with pytest.raises(ConflictError):
        pool.pool_allocate(agent=agent, amount=Decimal("6"), actor=ACTOR, reason="r", idempotency_key="alloc-1")
    assert CreditAccount.objects.get(pk=agent.pk).balance == Decimal("5")


def test_an_expired_pool_grant_is_never_allocated(agent):
    with Clock() as clock:
        pool_add(agent.outlet, "10", expires_at=clock.now + timedelta(minutes=1))
        clock.advance(minutes=1)
        with pytest.raises(DomainError, match="Only 0"):
            pool.pool_allocate(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="late")
    assert CreditLedgerEntry.objects.filter(kind="EXPIRE").count() == 0  # the refusal rolled the write-off back too


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_consuming_and_five_allocating_on_one_outlet_keep_every_invariant():
    outlet = OutletFactory()
    agents = [AgentFactory(outlet=outlet) for _ in range(5)]
    pool_add(outlet, "1000")
    for agent in agents:
        services.credits_add(agent=agent, amount=Decimal("10"), actor=ACTOR, reason="start")

    def work(index):
        for _ in range(5):
            if index < 5:
                pool.pool_allocate(agent=agents[index], amount=Decimal("3"), actor=ACTOR, reason="top-up")
            else:
                debits = {agent.pk: Decimal("0.5") for agent in agents[index % 5:]}
                services.credits_consume(debits=debits, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")

    assert run_in_threads(25, work) == []

    assert selectors.ledger_mismatches() == []
    assert selectors.pool_account_get(outlet_id=outlet.pk).balance == Decimal("1000") - 5 * 5 * 3
    consumed = sum(Decimal("0.5") * (5 - index % 5) * 5 for index in range(5, 25))
    total = sum(CreditAccount.objects.filter(pk__in=[agent.pk for agent in agents]).values_list("balance", flat=True))
    assert total == 5 * 10 + 5 * 5 * 3 - consumed


def test_a_replayed_reclaim_answers_both_sides_as_the_first_did(agent):
    pool_add(agent.outlet, "20")
    pool.pool_allocate(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="for March")
    first = pool.pool_reclaim(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="r", idempotency_key="back-1")
    again = pool.pool_reclaim(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="r", idempotency_key="back-1")
    assert again.replayed and (again.agent_entry, again.pool_entry) == (first.agent_entry, first.pool_entry)
    assert again.agent_entry.account_id == agent.pk


@sqlite_only
def test_allocating_in_an_outlet_with_no_pool_is_not_found(agent):
    CreditAccount.objects.filter(outlet=agent.outlet, agent__isnull=True).delete()
    with pytest.raises(NotFoundError, match="no pool"):
        pool.pool_allocate(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="r")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_key_sent_at_once_for_two_agents_moves_once_and_answers_the_other_with_a_conflict():
    outlet = OutletFactory()
    agents = [AgentFactory(outlet=outlet) for _ in range(2)]
    pool_add(outlet, "100")

    def move(index):
        pool.pool_allocate(agent=agents[index], amount=Decimal("5"), actor=ACTOR, reason="r", idempotency_key="same")

    errors = run_in_threads(2, move)

    assert [type(error) for error in errors] in ([], [ConflictError])
    assert CreditLedgerEntry.objects.filter(kind="ALLOCATE").count() == 2  # one move: its two sides
    assert selectors.ledger_mismatches() == []
