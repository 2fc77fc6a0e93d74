from datetime import timedelta
from decimal import Decimal

import pytest

from config.errors import NotFoundError
from credits import services
from credits.grants import GrantTerms
from credits.holds import services as holds
from credits.holds.selectors import spend_check
from credits.models import CreditAccount
from credits.selectors import with_available
from credits.services import Actor
from tests.clock import Clock
from tests.factories import AgentFactory
from usage.services import ingest_records

ACTOR = Actor.system("tests")
D = Decimal


def test_the_check_answers_what_available_is_and_what_block_would_decide(db):
    with Clock() as clock:
        agent = AgentFactory(overdraft_limit=D("2"))
        agent.outlet.enforcement = "block"
        agent.outlet.save()
        promotion = GrantTerms(source="promotion", priority=200, expires_at=clock.now + timedelta(minutes=1))
        services.credits_add(agent=agent, amount=D("100.5"), actor=ACTOR, reason="pack")
        services.credits_add(agent=agent, amount=D("7"), actor=ACTOR, reason="promo", terms=promotion)
        captured = holds.hold_place(agent=agent, amount=D("30"), actor=ACTOR, ttl_seconds=3600).hold
        holds.hold_place(agent=agent, amount=D("9"), actor=ACTOR, ttl_seconds=30)  # lapses below
        record = {
            "event_id": "u1", "agent_id": str(agent.pk), "type": "TTS", "unit": "characters", "count": 10,
            "credits": "12.25", "cost_usd": "0", "occurred_at": clock.now.isoformat(), "hold_id": str(captured.pk),
        }
        ingest_records(outlet=agent.outlet, records=[record], actor=ACTOR)
        clock.advance(minutes=2)  # the promotion expired, not yet written off; the short hold lapsed

        check = spend_check(outlet_id=agent.outlet_id, agent_id=agent.pk, amount=D("72.25"))
        account = with_available(CreditAccount.objects.filter(pk=agent.pk)).get()

    assert (check.balance, check.held, check.available) == (account.balance, account.held, account.available)
    assert (check.balance, check.held, check.available) == (D("95.25"), D("17.75"), D("70.5"))
    assert check.allowed  # 70.5 - 72.25 is within the overdraft of 2
    assert not spend_check(outlet_id=None, agent_id=agent.pk, amount=D("72.500001")).allowed


def test_the_check_of_another_outlets_agent_or_a_pool_is_not_found(db):
    agent = AgentFactory()
    pool_id = CreditAccount.objects.get(outlet=agent.outlet, agent=None).pk
    for outlet_id, agent_id in ((AgentFactory().outlet_id, agent.pk), (None, pool_id)):
        with pytest.raises(NotFoundError):
            spend_check(outlet_id=outlet_id, agent_id=agent_id, amount=D("1"))
