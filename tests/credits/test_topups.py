"""Auto top-up: once per crossing, at most max_per_day per outlet-local day, from the pool or by a signed webhook."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from config.errors import DomainError
from credits import pool, selectors, services, writeoffs
from credits.grants import GrantTerms
from credits.holds.models import CreditTopUp
from credits.models import CreditAccount, CreditAlert, CreditGrant, CreditLedgerEntry, WebhookDelivery
from credits.services import Actor
from tests.commands import run
from tests.concurrency import run_in_threads
from tests.credits.test_webhooks import Receiver, hook_outlet
from tests.factories import AgentFactory, OutletFactory
from tests.usage.test_services import record
from usage.services import ingest_records

ACTOR = Actor.system("tests")


def set_rule(holder, threshold="50", amount="5", source="pool", max_per_day=10):
    holder.top_up_threshold, holder.top_up_amount = Decimal(threshold), Decimal(amount)
    holder.top_up_source, holder.top_up_max_per_day = source, max_per_day
    holder.save()


def consume(agent, amount) -> None:
    services.credits_consume(debits={agent.pk: Decimal(amount)}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")


def add(agent, amount) -> None:
    services.credits_add(agent=agent, amount=Decimal(amount), actor=ACTOR, reason="purchase")


def fill_pool(outlet, amount, **terms) -> None:
    services.pool_add(outlet=outlet, amount=Decimal(amount), actor=ACTOR, reason="bought", terms=GrantTerms(**terms))


def balance(account_id) -> Decimal:
    return CreditAccount.objects.get(pk=account_id).balance


def pool_balance(outlet) -> Decimal:
    return selectors.pool_account_get(outlet_id=outlet.pk).balance


def statuses() -> list[str]:
    return list(CreditTopUp.objects.order_by("created_at", "id").values_list("status", flat=True))


def test_a_pool_top_up_fires_once_per_crossing(agent):
    fill_pool(agent.outlet, "100")
    add(agent, "60")
    set_rule(agent, threshold="50", amount="5")

    consume(agent, "20")  # 40: below, so 5 from the pool; 45 is still below
    assert (statuses(), balance(agent.pk), pool_balance(agent.outlet)) == (["allocated"], Decimal("45"), Decimal("95"))
    assert CreditAccount.objects.get(pk=agent.pk).top_up_armed is False
    consume(agent, "5")
    consume(agent, "1")
    assert statuses() == ["allocated"]  # still below since the top-up: no second one

    add(agent, "20")  # 59: back at or above the threshold re-arms it
    assert CreditAccount.objects.get(pk=agent.pk).top_up_armed is True
    consume(agent, "10")
    assert statuses() == ["allocated", "allocated"] and balance(agent.pk) == Decimal("54")


def test_a_clear_is_not_refilled_by_a_top_up_even_in_a_bulk_clear(agent):
    other = AgentFactory(outlet=agent.outlet)
    fill_pool(agent.outlet, "100")
    for cleared in (agent, other):
        add(cleared, "60")
        set_rule(cleared, threshold="50", amount="5")

    services.credits_clear_many(agents=[agent, other], actor=ACTOR, reason="retired")

    assert (statuses(), balance(agent.pk), balance(other.pk)) == ([], 0, 0)
    assert pool_balance(agent.outlet) == Decimal("100")


def test_a_top_up_moves_the_pool_grants_it_draws_with_their_priority_and_expiry(agent):
    expires_at = datetime.now(UTC) + timedelta(days=30)
    fill_pool(agent.outlet, "3", priority=7, expires_at=expires_at)
    fill_pool(agent.outlet, "100")
    set_rule(agent, threshold="10", amount="5")

    consume(agent, "1")

    top_up = CreditTopUp.objects.get()
    entries = CreditLedgerEntry.objects.filter(transfer_id=top_up.transfer_id)
    assert sorted((entry.kind, entry.amount) for entry in entries) == [("ALLOCATE", Decimal("-5")), ("ALLOCATE", Decimal("5"))]
    assert entries.get(account_id=agent.pk).actor_label == "system:auto_top_up"
    grants = CreditGrant.objects.filter(account_id=agent.pk).order_by("priority")
    assert [(grant.source, grant.amount, grant.priority, grant.expires_at) for grant in grants] == [
        ("auto_top_up", Decimal("3"), 7, expires_at), ("auto_top_up", Decimal("2"), 100, None),
    ]
    assert (top_up.amount, top_up.threshold, top_up.balance, top_up.source) == (Decimal("5"), Decimal("10"), Decimal("-1"), "pool")


def test_a_top_up_that_lifts_the_balance_back_re_arms_at_once(agent):
    fill_pool(agent.outlet, "100")
    set_rule(agent, threshold="10", amount="20")
    consume(agent, "1")  # -1 -> 19
    consume(agent, "15")  # 4: a new crossing
    assert statuses() == ["allocated", "allocated"] and balance(agent.pk) == Decimal("24")


def test_at_most_max_per_day_top_ups_per_outlet_local_day(db, clock):
    outlet = OutletFactory(timezone="Asia/Kolkata")  # UTC+05:30: its day starts at 18:30 UTC
    agent = AgentFactory(outlet=outlet)
    clock.now = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 23:30 on the 20th in Kolkata
    fill_pool(outlet, "100")
    set_rule(agent, threshold="10", amount="20", max_per_day=1)

    consume(agent, "1")  # -1 -> 19
    consume(agent, "15")  # 4: the day's one top-up is spent, so none; it stays armed
    assert statuses() == ["allocated"]
    assert CreditAccount.objects.get(pk=agent.pk).top_up_armed is True

    clock.advance(minutes=30)  # 00:00 on the 21st in Kolkata, still the 20th in UTC
    consume(agent, "1")
    assert statuses() == ["allocated", "allocated"]
    assert list(CreditTopUp.objects.order_by("created_at").values_list("local_date", flat=True)) == [
        date(2026, 11, 20), date(2026, 11, 21),
    ]


def test_a_pool_too_low_records_pool_low_and_opens_one_alert_on_the_pool_resolved_by_a_refill(
    outlet, eager_tasks, django_capture_on_commit_callbacks
):
    outlet.billing_contacts = "billing@example.com"
    outlet.save()
    first, second = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    fill_pool(outlet, "10")
    set_rule(outlet, threshold="5", amount="30")

    with django_capture_on_commit_callbacks(execute=True):
        consume(first, "1")
        consume(second, "1")

    assert statuses() == ["pool_low", "pool_low"]
    assert not CreditLedgerEntry.objects.filter(kind="ALLOCATE").exists() and pool_balance(outlet) == Decimal("10")
    assert CreditTopUp.objects.filter(transfer_id__isnull=False).count() == 0
    pool_alert = CreditAlert.objects.get(kind="pool_low")  # one open alert per account: the second finds it open
    pool_account = selectors.pool_account_get(outlet_id=outlet.pk)
    assert (pool_alert.account_id, pool_alert.status, pool_alert.threshold, pool_alert.opening_balance) == (
        pool_account.pk, "open", Decimal("30"), Decimal("10"),
    )
    assert "Pool too low for an auto top-up" in [message.subject.split(" (")[0] for message in mail.outbox]

    with django_capture_on_commit_callbacks(execute=True):
        fill_pool(outlet, "15")  # 25: still less than the 30 it could not pay
    assert CreditAlert.objects.get(pk=pool_alert.pk).status == "open"
    with django_capture_on_commit_callbacks(execute=True):
        fill_pool(outlet, "5")
    pool_alert.refresh_from_db()
    assert (pool_alert.status, pool_alert.resolution_balance) == ("resolved", Decimal("30"))
    assert mail.outbox[-1].subject == f"Pool refilled ({outlet.name})"


def test_an_external_top_up_posts_one_signed_event_retried_until_accepted(
    agent, eager_tasks, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    agent.outlet.low_balance_threshold = Decimal("0")  # no low-balance alert: the top-up's is the only event
    agent.outlet.save()
    add(agent, "5")
    set_rule(agent, threshold="10", amount="25", source="external")
    with Receiver([500, 200], secret=agent.outlet.webhook_secret) as receiver:
        hook_outlet(agent.outlet, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "1")  # 4, below the threshold: one request
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "1")  # still below: no second request

    top_up = CreditTopUp.objects.get()
    assert (top_up.status, top_up.transfer_id, balance(agent.pk)) == ("requested", None, Decimal("3"))
    requests = receiver.requests
    assert len(requests) == 2 and all(request["verified"] for request in requests)
    assert requests[0]["body"] == requests[1]["body"]  # the retry sends the same event
    event = json.loads(requests[0]["body"])
    assert (event["id"], event["type"], requests[0]["headers"]["Ledgerline-Event-Id"]) == (
        top_up.event_id, "credits.top_up_requested", top_up.event_id,
    )
    assert event["data"] == {
        "top_up": {
            "id": str(top_up.pk), "amount": "25.000000", "threshold": "10.000000", "balance": "4.000000",
            "source": "external", "local_date": top_up.local_date.isoformat(),
        },
        "agent": {"id": str(agent.pk), "name": agent.name, "external_id": agent.external_id},
        "outlet": {"id": str(agent.outlet_id), "name": agent.outlet.name},
    }
    deliveries = WebhookDelivery.objects.filter(top_up=top_up).order_by("id")
    assert [(d.attempt, d.status, d.response_code, d.event_id, d.alert_id) for d in deliveries] == [
        (1, "failed", 500, top_up.event_id, None), (2, "succeeded", 200, top_up.event_id, None),
    ]

    # The platform adds the credits with the event's id as its Idempotency-Key: a retry adds nothing twice.
    for _ in range(2):
        services.credits_add(agent=agent, amount=Decimal("25"), actor=ACTOR, reason="top-up", idempotency_key=event["id"])
    assert balance(agent.pk) == Decimal("28")


def test_top_up_deliveries_and_pool_alerts_show_in_the_admin(
    admin_client, outlet, eager_tasks, django_capture_on_commit_callbacks
):
    requester, starved = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    set_rule(requester, threshold="10", amount="5", source="external")
    set_rule(starved, threshold="10", amount="5")
    with Receiver([200], secret=outlet.webhook_secret) as receiver:
        hook_outlet(outlet, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            consume(requester, "1")
            consume(starved, "1")
    delivery = WebhookDelivery.objects.get(top_up__isnull=False)
    pool_alert = CreditAlert.objects.get(kind="pool_low")

    listing = admin_client.get(reverse("admin:credits_webhookdelivery_changelist"))
    assert listing.status_code == 200 and "credits.top_up_requested" in listing.content.decode()
    assert admin_client.get(reverse("admin:credits_webhookdelivery_change", args=[delivery.pk])).status_code == 200
    page = admin_client.get(reverse("admin:credits_creditalert_change", args=[pool_alert.pk]))
    assert page.status_code == 200 and "the pool" in page.content.decode()
    dashboard = admin_client.get(reverse("admin:index"))
    assert dashboard.status_code == 200 and f"Pool of {outlet.name}" in dashboard.content.decode()


def test_the_agents_rule_wins_over_the_outlets(agent):
    fill_pool(agent.outlet, "100")
    add(agent, "60")
    set_rule(agent.outlet, threshold="100", amount="50")
    set_rule(agent, threshold="20", amount="10")

    consume(agent, "10")  # 50: below the outlet's threshold, not the agent's
    assert statuses() == []
    consume(agent, "35")  # 15
    assert CreditTopUp.objects.get().amount == Decimal("10") and balance(agent.pk) == Decimal("25")


def test_an_agent_with_max_per_day_zero_never_tops_up(agent):
    fill_pool(agent.outlet, "100")
    set_rule(agent.outlet, threshold="100", amount="50")
    set_rule(agent, threshold="20", amount="10", max_per_day=0)
    for _ in range(3):
        consume(agent, "10")
    assert statuses() == [] and pool_balance(agent.outlet) == Decimal("100")


def test_usage_ingested_below_the_threshold_tops_up_in_the_same_transaction(agent):
    fill_pool(agent.outlet, "100")
    set_rule(agent, threshold="10", amount="30")
    ingest_records(outlet=agent.outlet, records=[record(agent, "e1", credits="4")], actor=ACTOR)
    assert statuses() == ["allocated"] and balance(agent.pk) == Decimal("26")


def test_a_reclaim_below_the_threshold_tops_up_and_a_pool_refilled_by_a_reclaim_resolves_its_alert(outlet):
    lender, borrower = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    fill_pool(outlet, "40")
    pool.pool_allocate(agent=lender, amount=Decimal("40"), actor=ACTOR, reason="all of it")
    set_rule(borrower, threshold="5", amount="30")
    consume(borrower, "1")  # the pool is empty
    assert statuses() == ["pool_low"]

    set_rule(lender, threshold="35", amount="3")
    pool.pool_reclaim(agent=lender, amount=Decimal("35"), actor=ACTOR, reason="back")  # lender 5, pool 35
    assert statuses() == ["pool_low", "allocated"]  # the lender crossed its threshold: 3 from the pool at once
    assert (balance(lender.pk), pool_balance(outlet)) == (Decimal("8"), Decimal("32"))
    assert CreditAlert.objects.get(kind="pool_low").status == "resolved"  # 32 covers the 30 it could not pay


def test_a_void_or_an_expiry_below_the_threshold_tops_up(agent, clock):
    fill_pool(agent.outlet, "100")
    services.credits_add(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="promo",
                         terms=GrantTerms(source="promotion", expires_at=clock.now + timedelta(minutes=1)))
    add(agent, "20")
    set_rule(agent, threshold="30", amount="5")
    grant = CreditGrant.objects.filter(account_id=agent.pk, source="purchase").get()
    writeoffs.grant_void(grant_id=grant.pk, outlet_id=None, actor=ACTOR, reason="refunded")  # 20
    assert statuses() == ["allocated"]  # 25: below still, so disarmed
    add(agent, "10")  # 35 re-arms
    clock.advance(minutes=2)
    assert writeoffs.grants_expire_due() == 1  # 15
    assert statuses() == ["allocated", "allocated"] and balance(agent.pk) == Decimal("20")


def test_reconcile_stays_clean_after_top_ups(outlet):
    pooled, external, starved = (AgentFactory(outlet=outlet) for _ in range(3))
    fill_pool(outlet, "12")
    set_rule(pooled, threshold="10", amount="10")
    set_rule(external, threshold="10", amount="10", source="external")
    set_rule(starved, threshold="10", amount="10")
    for agent in (pooled, external, starved):
        consume(agent, "3")
    assert sorted(statuses()) == ["allocated", "pool_low", "requested"]
    out, err = run("reconcile")
    assert out.startswith("OK:") and err == ""


def test_locks_take_agents_accounts_before_pools_each_in_key_order(db):
    outlets = [OutletFactory() for _ in range(2)]
    agents = [AgentFactory(outlet=outlets[0], id=uuid.UUID(int=2**128 - 1 - index)) for index in range(2)]
    pools = sorted(selectors.pool_account_get(outlet_id=outlet.pk).pk for outlet in outlets)
    locked = services.locked_accounts([*pools, *(agent.pk for agent in agents)])
    assert list(locked) == [*sorted(agent.pk for agent in agents), *pools]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twelve_concurrent_postings_crossing_the_threshold_top_up_exactly_once():
    agent = AgentFactory()
    fill_pool(agent.outlet, "100")
    add(agent, "52")
    set_rule(agent, threshold="50", amount="1")  # 1 never lifts it back: one crossing in all

    assert run_in_threads(12, lambda index: consume(agent, "5")) == []

    assert statuses() == ["allocated"]
    assert (balance(agent.pk), pool_balance(agent.outlet)) == (Decimal("-7"), Decimal("99"))
    assert selectors.ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_allocations_reclaims_and_consumption_with_top_ups_never_deadlock():
    outlet = OutletFactory()
    # Ids above the pool's: under key order alone, allocate would lock the pool before the agent.
    agents = [AgentFactory(outlet=outlet, id=uuid.UUID(f"ffffffff{uuid.uuid4().hex[8:]}")) for _ in range(4)]
    fill_pool(outlet, "100000")
    set_rule(outlet, threshold="20", amount="10", max_per_day=10000)
    for agent in agents:
        add(agent, "30")

    def work(index):
        for step in range(6):
            agent = agents[(index + step) % 4]
            if index % 3 == 0:
                pool.pool_allocate(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="more")
            elif index % 3 == 1:
                try:
                    pool.pool_reclaim(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="less")
                except DomainError:  # nothing from the pool left unused on it: moves nothing
                    pass
            else:
                debits = {agent.pk: Decimal("4") for agent in agents[index % 4:]}
                services.credits_consume(debits=debits, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")

    assert run_in_threads(18, work) == []

    assert CreditTopUp.objects.filter(status="allocated").count() > 0
    assert selectors.ledger_mismatches() == []
    consumed = -sum(CreditLedgerEntry.objects.filter(kind="CONSUME").values_list("amount", flat=True))
    total = sum(CreditAccount.objects.filter(outlet=outlet).values_list("balance", flat=True))
    assert total == Decimal("100000") + 4 * 30 - consumed
