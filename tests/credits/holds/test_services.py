from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from config.errors import ConflictError, DomainError, InsufficientCreditsError, NotFoundError
from credits import services
from credits.holds import services as holds
from credits.holds.models import CreditHold, CreditHoldEvent
from credits.models import CreditAccount
from credits.selectors import with_available
from credits.services import Actor
from tests.clock import Clock
from tests.concurrency import run_in_threads
from tests.factories import AgentFactory
from usage.checks import hold_mismatches
from usage.services import ingest_records

ACTOR = Actor.system("tests")
D = Decimal


def funded(amount="100", **controls) -> object:
    agent = AgentFactory(**controls)
    if Decimal(amount):
        services.credits_add(agent=agent, amount=D(amount), actor=ACTOR, reason="pack")
    return agent


def place(agent, amount, **options):
    return holds.hold_place(agent=agent, amount=D(amount), actor=ACTOR, **options)


def available(agent) -> Decimal:
    return with_available(CreditAccount.objects.filter(pk=agent.pk)).get().available


def usage(agent, event_id, credits, **fields) -> dict:
    from django.utils import timezone

    return {
        "event_id": event_id, "agent_id": str(agent.pk), "type": "TELEPHONY", "unit": "seconds", "count": 60,
        "credits": str(credits), "cost_usd": "0.01", "occurred_at": timezone.now().isoformat(), **fields,
    }


def test_a_hold_under_off_is_granted_past_the_balance(db):
    agent = funded("5")
    result = place(agent, "50", reference="call-1")
    assert (result.hold.status, result.available) == ("active", D("-45"))
    assert available(agent) == D("-45")


def test_a_hold_under_block_past_available_is_refused_stamped_and_stores_nothing(db):
    agent = funded("100", enforcement="block")
    place(agent, "90")
    with pytest.raises(InsufficientCreditsError) as refused:
        place(agent, "11")
    assert (refused.value.status_code, refused.value.code) == (402, "insufficient_credits")
    assert refused.value.fields == {"available": "10.000000", "requested": "11.000000"}
    assert CreditHold.objects.count() == 1
    assert CreditAccount.objects.get(pk=agent.pk).hold_refused_at is not None


def test_the_overdraft_limit_lets_holds_reach_below_zero_and_no_further(db):
    agent = funded("10", enforcement="block", overdraft_limit=D("5"))
    place(agent, "15")
    with pytest.raises(InsufficientCreditsError):
        place(agent, "0.000001")


def test_the_agents_enforcement_wins_over_its_outlets(db):
    agent = funded("10", enforcement="off")
    agent.outlet.enforcement = "block"
    agent.outlet.save()
    assert place(agent, "50").hold.amount == 50


def test_an_agent_without_its_own_enforcement_follows_its_outlet(db):
    agent = funded("10")
    agent.outlet.enforcement, agent.outlet.overdraft_limit = "block", D("1")
    agent.outlet.save()
    with pytest.raises(InsufficientCreditsError):
        place(agent, "11.5")


def test_extend_reserves_more_and_renews_by_the_last_ttl(db):
    with Clock() as clock:
        agent = AgentFactory()
        hold = place(agent, "10", ttl_seconds=60).hold
        clock.advance(seconds=30)
        result = holds.hold_extend(outlet_id=agent.outlet_id, hold_id=hold.pk, amount=D("5"), actor=ACTOR)
        assert (result.hold.amount, result.hold.expires_at) == (D("15"), clock.now + timedelta(seconds=60))
        result = holds.hold_extend(outlet_id=agent.outlet_id, hold_id=hold.pk, ttl_seconds=600, actor=ACTOR)
        assert (result.hold.amount, result.hold.ttl_seconds) == (D("15"), 600)
        assert list(CreditHoldEvent.objects.filter(hold=hold).order_by("id").values_list("kind", "amount")) == [
            ("place", D("10")), ("extend", D("5")), ("extend", D("0")),
        ]


def test_a_refused_extension_leaves_the_lease_as_it_was(db):
    agent = funded("20", enforcement="block")
    hold = place(agent, "15", ttl_seconds=60).hold
    with pytest.raises(InsufficientCreditsError):
        holds.hold_extend(outlet_id=agent.outlet_id, hold_id=hold.pk, amount=D("6"), actor=ACTOR)
    hold.refresh_from_db()
    assert (hold.amount, hold.ttl_seconds) == (D("15"), 60)


def test_a_lease_over_spent_usage_is_refused_renewal_under_block(db):
    agent = funded("20", enforcement="block")
    hold = place(agent, "10", reference="call-1").hold
    ingest_records(outlet=agent.outlet, records=[usage(agent, "u1", "25", interaction_id="call-1")], actor=ACTOR)
    with pytest.raises(InsufficientCreditsError):
        holds.hold_extend(outlet_id=agent.outlet_id, hold_id=hold.pk, actor=ACTOR)


def test_a_hold_stops_counting_the_instant_it_expires_and_cannot_be_extended(db):
    with Clock() as clock:
        agent = funded("100")
        hold = place(agent, "40", ttl_seconds=10).hold
        clock.advance(seconds=9)
        assert available(agent) == D("60")
        clock.advance(seconds=1)
        assert available(agent) == D("100")
        with pytest.raises(holds.HoldStateError, match="expired"):
            holds.hold_extend(outlet_id=agent.outlet_id, hold_id=hold.pk, actor=ACTOR)


def test_the_sweep_marks_lapsed_holds_expired_and_leaves_live_ones(db):
    with Clock() as clock:
        agent = AgentFactory()
        lapsed, live = place(agent, "1", ttl_seconds=5).hold, place(agent, "1", ttl_seconds=50).hold
        clock.advance(seconds=10)
        assert holds.holds_expire_due() == 1
        assert dict(CreditHold.objects.values_list("pk", "status")) == {lapsed.pk: "expired", live.pk: "active"}
        assert CreditHold.objects.get(pk=lapsed.pk).ended_at == lapsed.expires_at


def test_a_call_has_one_live_hold_and_a_lapsed_one_frees_its_reference(db):
    with Clock() as clock:
        agent = AgentFactory()
        first = place(agent, "1", reference="call-1", ttl_seconds=5).hold
        with pytest.raises(holds.HoldStateError, match="extend it"):
            place(agent, "1", reference="call-1")
        clock.advance(seconds=5)
        second = place(agent, "1", reference="call-1").hold
        assert dict(CreditHold.objects.values_list("pk", "status")) == {first.pk: "expired", second.pk: "active"}


def test_release_gives_back_the_uncaptured_rest_and_a_second_release_changes_nothing(db):
    agent = funded("100")
    hold = place(agent, "30").hold
    released = holds.hold_release(outlet_id=agent.outlet_id, hold_id=hold.pk, actor=ACTOR)
    assert (released.hold.status, released.available) == ("released", D("100"))
    again = holds.hold_release(outlet_id=agent.outlet_id, hold_id=hold.pk, actor=ACTOR)
    assert again.hold.status == "released" and CreditHoldEvent.objects.filter(kind="release").count() == 1


def test_another_outlets_hold_is_not_found_for_every_verb(db):
    hold = place(AgentFactory(), "1").hold
    stranger = AgentFactory()
    for verb in (holds.hold_extend, holds.hold_release):
        with pytest.raises(NotFoundError):
            verb(outlet_id=stranger.outlet_id, hold_id=hold.pk, actor=ACTOR)


def test_a_key_replays_its_hold_and_refuses_another_request(db):
    agent = funded("100")
    first = place(agent, "10", idempotency_key="k")
    replay = place(agent, "10", idempotency_key="k")
    assert (replay.replayed, replay.hold.pk, CreditHold.objects.count()) == (True, first.hold.pk, 1)
    with pytest.raises(ConflictError):
        place(agent, "11", idempotency_key="k")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"amount": "0"}, "amount"), ({"amount": "NaN"}, "amount"), ({"amount": "-1"}, "amount"),
        ({"ttl_seconds": 0}, "ttl_seconds"), ({"ttl_seconds": 86_401}, "ttl_seconds"), ({"ttl_seconds": True}, "ttl_seconds"),
        ({"reference": "a\x00b"}, "reference"), ({"reference": "x" * 256}, "reference"),
    ],
)
def test_bad_hold_input_names_its_field_and_stores_nothing(db, options, field):
    agent = AgentFactory()
    with pytest.raises(DomainError) as raised:
        holds.hold_place(agent=agent, actor=ACTOR, **{"amount": "1", **options})
    assert field in raised.value.errors and CreditHold.objects.count() == 0


# Capture by ingest

def test_usage_naming_a_hold_captures_it_and_release_keeps_what_was_captured(db):
    agent = funded("100")
    hold = place(agent, "30").hold
    ingest_records(outlet=agent.outlet, records=[usage(agent, "u1", "12", hold_id=str(hold.pk))], actor=ACTOR)
    hold.refresh_from_db()
    assert (hold.captured, available(agent)) == (D("12"), D("70"))  # 88 balance - 18 still held
    released = holds.hold_release(outlet_id=agent.outlet_id, hold_id=hold.pk, actor=ACTOR)
    assert (released.hold.status, released.available) == ("captured", D("88"))
    assert hold_mismatches() == []


def test_usage_of_a_held_call_captures_its_live_hold_by_interaction(db):
    agent = funded("100")
    hold = place(agent, "30", reference="call-7").hold
    records = [usage(agent, f"u{n}", "10", interaction_id="call-7") for n in range(4)] + [usage(agent, "other", "1")]
    ingest_records(outlet=agent.outlet, records=records, actor=ACTOR)
    hold.refresh_from_db()
    assert hold.captured == D("40")  # past its amount: usage is never refused, it consumes more
    assert available(agent) == D("59")
    assert set(hold.usage_records.values_list("event_id", flat=True)) == {"u0", "u1", "u2", "u3"}


def test_a_duplicate_record_captures_once(db):
    agent = funded("100")
    hold = place(agent, "30").hold
    for _ in range(2):
        ingest_records(outlet=agent.outlet, records=[usage(agent, "u1", "5", hold_id=str(hold.pk))], actor=ACTOR)
    hold.refresh_from_db()
    assert hold.captured == D("5")


def test_capture_is_one_statement_for_the_batch(db, django_assert_max_num_queries):
    agent = funded("100")
    held = [place(agent, "5", reference=f"call-{n}").hold for n in range(3)]
    records = [usage(agent, f"u{n}-{k}", "1", interaction_id=f"call-{n}") for n in range(3) for k in range(50)]
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        ingest_records(outlet=agent.outlet, records=records, actor=ACTOR)
    assert sum("UPDATE credits_credithold" in query["sql"] for query in queries.captured_queries) == 1
    assert {hold.pk: CreditHold.objects.get(pk=hold.pk).captured for hold in held} == {hold.pk: D("50") for hold in held}


@pytest.mark.parametrize("whose", ["another agent's", "another outlet's", "no one's"])
def test_a_record_naming_a_hold_not_its_agents_is_an_item_error_and_stores_nothing(db, whose):
    agent = funded("100")
    other = {"another agent's": lambda: AgentFactory(outlet=agent.outlet), "another outlet's": AgentFactory}.get(whose)
    hold_id = place(other(), "1").hold.pk if other else "8c0b7c1e-1f53-4d53-9a38-5f5b2a8b5e4d"
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=[usage(agent, "u1", "1", hold_id=str(hold_id))], actor=ACTOR)
    [item] = raised.value.errors["records"]
    assert "hold_id" in item["errors"]
    assert CreditAccount.objects.get(pk=agent.pk).balance == D("100")


def test_a_hold_id_that_is_not_a_uuid_is_an_item_error(db):
    agent = funded("1")
    with pytest.raises(DomainError) as raised:
        ingest_records(outlet=agent.outlet, records=[usage(agent, "u1", "1", hold_id="x\x00y")], actor=ACTOR)
    assert raised.value.errors["records"][0]["errors"] == {"hold_id": ["Must be a hold's id (a UUID)."]}


def test_late_usage_naming_a_released_hold_still_counts_as_captured(db):
    agent = funded("100")
    hold = place(agent, "30").hold
    holds.hold_release(outlet_id=agent.outlet_id, hold_id=hold.pk, actor=ACTOR)
    ingest_records(outlet=agent.outlet, records=[usage(agent, "late", "4", hold_id=str(hold.pk))], actor=ACTOR)
    hold.refresh_from_db()
    assert (hold.status, hold.captured, available(agent)) == ("released", D("4"), D("96"))
    assert hold_mismatches() == []


@pytest.mark.parametrize(("status", "ends_as"), [("completed", "captured"), ("failed", "released")])
def test_a_call_that_ends_releases_its_hold(db, status, ends_as):
    from usage.services import upsert_interactions

    agent = funded("100")
    hold = place(agent, "30", reference="call-9").hold
    if ends_as == "captured":
        ingest_records(outlet=agent.outlet, records=[usage(agent, "u1", "3", interaction_id="call-9")], actor=ACTOR)
    started = {"interaction_id": "call-9", "agent_id": str(agent.pk), "started_at": hold.created_at.isoformat()}
    upsert_interactions(outlet=agent.outlet, interactions=[started])
    assert CreditHold.objects.get(pk=hold.pk).status == "active"
    upsert_interactions(outlet=agent.outlet, interactions=[{"interaction_id": "call-9", "status": status}])
    hold.refresh_from_db()
    assert hold.status == ends_as and available(agent) == CreditAccount.objects.get(pk=agent.pk).balance


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the database refuses the broken row")
def test_reconcile_names_a_hold_whose_captured_is_not_its_records(db):
    hold = place(AgentFactory(), "5").hold
    CreditHold.objects.filter(pk=hold.pk).update(captured=D("2"))
    assert hold_mismatches() == [f"hold {hold.pk} of account {hold.account_id}: captured 2.000000 != its usage records' credits 0"]


@pytest.mark.postgres
def test_the_database_refuses_a_captured_amount_no_records_back(db):
    from django.db import IntegrityError, transaction

    hold = place(AgentFactory(), "5").hold
    with pytest.raises(IntegrityError, match="captured"), transaction.atomic():
        CreditHold.objects.filter(pk=hold.pk).update(captured=D("2"))
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")


# Concurrency (PostgreSQL, real threads)

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hundred_racing_holds_of_ten_against_five_hundred_grant_exactly_fifty():
    agent = funded("500", enforcement="block")
    outcomes = []

    def hold(_):
        try:
            place(agent, "10")
            outcomes.append("granted")
        except InsufficientCreditsError:
            outcomes.append("refused")

    assert run_in_threads(100, hold, connections=40) == []
    assert (outcomes.count("granted"), outcomes.count("refused")) == (50, 50)
    assert available(agent) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_extending_a_lease_while_its_usage_is_ingested_loses_no_capture():
    agent = funded("10000")
    hold = place(agent, "10", reference="call-1").hold

    def work(index):
        if index % 2:
            holds.hold_extend(outlet_id=agent.outlet_id, hold_id=hold.pk, amount=D("1"), actor=ACTOR)
        else:
            records = [usage(agent, f"u{index}-{k}", "0.5", hold_id=str(hold.pk)) for k in range(5)]
            ingest_records(outlet=agent.outlet, records=records, actor=ACTOR)

    assert run_in_threads(20, work) == []
    hold.refresh_from_db()
    assert (hold.captured, hold.amount) == (D("25"), D("20"))  # 10 ingests of 5 x 0.5; 10 extensions of 1
    assert hold_mismatches() == []


# The property: available is always balance less what live holds reserve uncaptured; block never passes its limit

amounts = st.decimals(min_value=D("0.5"), max_value=D("60"), places=1)


class HoldMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = Clock().__enter__()
        self.overdraft = D("5")
        self.agent = funded("100", enforcement="block", overdraft_limit=self.overdraft)
        self.events = 0
        self.hold_ids = []

    def mine(self):
        return st.sampled_from(self.hold_ids).map(lambda pk: CreditHold.objects.get(pk=pk))

    def teardown(self):
        self.clock.__exit__()

    def balance(self) -> Decimal:
        return CreditAccount.objects.get(pk=self.agent.pk).balance

    def expected_available(self) -> Decimal:
        live = CreditHold.objects.filter(account_id=self.agent.pk, status="active", expires_at__gt=self.clock.now)
        return self.balance() - sum((hold.uncaptured for hold in live), D(0))

    @rule(amount=amounts, ttl=st.integers(1, 120))
    def hold(self, amount, ttl):
        before = self.expected_available()
        try:
            self.hold_ids.append(place(self.agent, amount, ttl_seconds=ttl).hold.pk)
        except InsufficientCreditsError:
            assert before - amount < -self.overdraft
        else:
            assert before - amount >= -self.overdraft

    @precondition(lambda self: self.hold_ids)
    @rule(data=st.data(), amount=st.decimals(min_value=0, max_value=20, places=1), ttl=st.none() | st.integers(1, 120))
    def extend(self, data, amount, ttl):
        hold = data.draw(self.mine())
        before = self.expected_available()
        try:
            holds.hold_extend(outlet_id=self.agent.outlet_id, hold_id=hold.pk, amount=amount, ttl_seconds=ttl, actor=ACTOR)
        except InsufficientCreditsError:
            assert hold.is_live(self.clock.now) and before - amount < -self.overdraft
        except holds.HoldStateError:
            assert not hold.is_live(self.clock.now)
        else:
            assert before - amount >= -self.overdraft

    @precondition(lambda self: self.hold_ids)
    @rule(data=st.data(), credits=amounts)
    def capture(self, data, credits):
        hold = data.draw(self.mine())
        self.events += 1
        record = usage(self.agent, f"e{self.events}", credits, hold_id=str(hold.pk))
        ingest_records(outlet=self.agent.outlet, records=[record], actor=ACTOR)

    @precondition(lambda self: self.hold_ids)
    @rule(data=st.data())
    def release(self, data):
        hold = data.draw(self.mine())
        holds.hold_release(outlet_id=self.agent.outlet_id, hold_id=hold.pk, actor=ACTOR)

    @rule(amount=amounts, add=st.booleans())
    def posting(self, amount, add):
        if add:
            services.credits_add(agent=self.agent, amount=amount, actor=ACTOR, reason="pack")
        else:
            self.events += 1
            ingest_records(outlet=self.agent.outlet, records=[usage(self.agent, f"e{self.events}", amount)], actor=ACTOR)

    @rule(seconds=st.integers(1, 90))
    def time_passes(self, seconds):
        self.clock.advance(seconds=seconds)

    @rule()
    def sweep(self):
        holds.holds_expire_due()

    @invariant()
    def available_is_balance_less_live_uncaptured_holds(self):
        assert available(self.agent) == self.expected_available()

    @invariant()
    def captured_is_what_the_records_say(self):
        assert hold_mismatches() == []


HoldMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class TestHoldStateMachine(HoldMachine.TestCase, HypothesisTestCase):
    pass
