"""The grants and pool endpoints (credits/grants_api.py): list, add and void grants, read the pool, allocate, reclaim."""

from datetime import timedelta
from decimal import Decimal

import pytest

from credits import writeoffs
from credits.models import CreditGrant, CreditLedgerEntry
from tests.credits.test_api import (
    ACTOR,
    ALLOCATE,
    GRANTS,
    IN_A_WEEK,
    POOL,
    RECLAIM,
    add,
    add_to_pool,
    assert_json_error,
    balance,
    csv_rows,
    pool_balance,
    void_path,
)
from tests.factories import AgentFactory, OutletFactory


def test_grants_list_filters_by_agent_pool_status_and_source(outlet, agent, key_client, django_assert_max_num_queries):
    other = AgentFactory(outlet=outlet)
    purchase, promotion = add(agent, "5"), add(agent, "3", source="promotion")
    add(other, "2")
    pool_grant = add_to_pool(outlet, "100")
    writeoffs.grant_void(grant_id=purchase.pk, outlet_id=None, actor=ACTOR, reason="refund")
    client = key_client("read")

    def ids(**params):
        with django_assert_max_num_queries(4):
            response = client.get(GRANTS, params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert len(ids()) == 4
    assert ids(agent_id=str(agent.pk)) == [promotion.pk, purchase.pk]  # newest first
    assert ids(pool="true") == [pool_grant.pk]
    assert len(ids(pool="false")) == 3
    assert ids(status="voided") == [purchase.pk]
    assert ids(agent_id=str(agent.pk), status=["active", "depleted"]) == [promotion.pk]
    assert ids(source="PROMOTION") == [promotion.pk]
    pool_item = client.get(GRANTS, {"pool": "true"}).json()["items"][0]
    assert (pool_item["agent_id"], pool_item["pool"], pool_item["remaining"]) == (None, True, "100.000000")


def test_a_grant_past_its_expiry_lists_as_expired_before_any_write_off(agent, key_client, clock):
    promotion = add(agent, "3", source="promotion", expires_at=clock.now + timedelta(minutes=5))
    client = key_client("read")
    clock.advance(minutes=5)
    assert CreditGrant.objects.get(pk=promotion.pk).status == "active"  # no task ran
    assert [item["status"] for item in client.get(GRANTS).json()["items"]] == ["expired"]
    assert [item["id"] for item in client.get(GRANTS, {"status": "expired"}).json()["items"]] == [promotion.pk]
    assert client.get(GRANTS, {"status": "active"}).json()["items"] == []


def test_grants_csv_streams_every_matching_grant(agent, key_client):
    for amount in range(1, 4):
        add(agent, amount)
    rows = csv_rows(key_client("read").get(GRANTS, {"format": "csv", "agent_id": str(agent.pk)}))
    assert [row["amount"] for row in rows] == ["3.000000", "2.000000", "1.000000"]
    assert set(rows[0]) >= {"id", "agent_id", "pool", "source", "remaining", "priority", "expires_at", "status"}


def test_another_outlet_sees_none_of_this_outlets_grants(agent, key_client):
    add(agent, "5")
    stranger = key_client("read", for_outlet=OutletFactory())
    assert stranger.get(GRANTS).json()["items"] == []
    assert stranger.get(GRANTS, {"agent_id": str(agent.pk)}).json()["items"] == []


def test_posting_a_grant_to_an_agent_answers_201_with_the_grant(agent, key_client):
    body = {"agent_id": str(agent.pk), "amount": "12.5", "reason": "invoice 7", "source": "purchase", "priority": 50,
            "expires_at": IN_A_WEEK.isoformat()}
    response = key_client("credits:write").post(GRANTS, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["grant"]["agent_id"], data["grant"]["amount"], data["grant"]["priority"]) == (str(agent.pk), "12.500000", 50)
    assert (data["entry"]["kind"], data["balance_before"], data["balance"], data["replayed"]) == ("ADD", "0.000000", "12.500000", False)
    assert balance(agent) == Decimal("12.5")


def test_posting_a_grant_to_the_pool_answers_201_with_the_pool_grant(outlet, key_client):
    response = key_client("credits:write").post(GRANTS, {"pool": True, "amount": "500", "reason": "bought"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["grant"]["pool"], response.json()["entry"]["pool"]) == (True, True)
    assert pool_balance(outlet) == Decimal("500")


def test_staff_name_the_outlet_of_a_pool_grant(outlet, staff_client):
    body = {"pool": True, "amount": "5", "reason": "bought"}
    assert_json_error(staff_client.post(GRANTS, body, format="json"), 400, "outlet_id")
    response = staff_client.post(f"{GRANTS}?outlet_id={outlet.pk}", body, format="json")
    assert response.status_code == 201, response.content
    assert pool_balance(outlet) == Decimal("5")


def test_a_repeated_grant_post_with_the_same_key_opens_one_grant(agent, key_client):
    client = key_client("credits:write")
    body = {"agent_id": str(agent.pk), "amount": "5", "reason": "r"}
    first = client.post(GRANTS, body, format="json", headers={"Idempotency-Key": "g-1"})
    again = client.post(GRANTS, body, format="json", headers={"Idempotency-Key": "g-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["grant"]["id"] == first.json()["grant"]["id"] and again.json()["replayed"] is True
    assert CreditGrant.objects.count() == 1 and balance(agent) == Decimal("5")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"amount": "-5"}, {"amount"}),
        ({"amount": "0"}, {"amount"}),
        ({"amount": "NaN"}, {"amount"}),
        ({"amount": "Infinity"}, {"amount"}),
        ({"amount": "5", "expires_at": "2020-01-01T00:00:00Z"}, {"expires_at"}),
        ({"amount": "5", "priority": -3}, {"priority"}),
        ({"amount": "5", "source": "opening"}, {"source"}),
        ({"amount": "5", "reason": " "}, {"reason"}),
        ({"amount": "5", "pool": True}, {"agent_id", "pool"}),
        ({"amount": "5", "agent_id": None}, {"agent_id"}),
    ],
    ids=["negative", "zero", "nan", "infinity", "expired", "priority", "source", "reason", "agent-and-pool", "null-agent"],
)
def test_bad_grant_posts_are_a_json_400_and_change_nothing(agent, key_client, body, fields):
    payload = {"agent_id": str(agent.pk), "reason": "r"} | body
    response = key_client("credits:write").post(GRANTS, payload, format="json")
    assert fields <= set(assert_json_error(response, 400, code="invalid_parameter")["errors"])
    assert not CreditLedgerEntry.objects.exists() and not CreditGrant.objects.exists()


def test_a_grant_post_with_neither_agent_nor_pool_is_a_400_naming_both(db, key_client):
    response = key_client("credits:write").post(GRANTS, {"amount": "5", "reason": "r", "pool": False}, format="json")
    assert {"agent_id", "pool"} <= set(assert_json_error(response, 400)["errors"])


def test_a_grant_post_for_another_outlets_agent_is_a_404(agent, key_client):
    stranger = AgentFactory()
    response = key_client("credits:write").post(GRANTS, {"agent_id": str(stranger.pk), "amount": "5", "reason": "r"}, format="json")
    assert_json_error(response, 404, code="not_found")
    assert not CreditLedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("path", "body"),
    [(GRANTS, {"pool": True, "amount": "5", "reason": "r"}), (ALLOCATE, {"amount": "1", "reason": "r"}),
     (RECLAIM, {"amount": "1", "reason": "r"}), ("void", {"reason": "r"})],
)
def test_a_read_only_key_may_not_write_grants_or_move_pool_credits(agent, key_client, path, body):
    grant = add_to_pool(agent.outlet, "10")
    before = CreditLedgerEntry.objects.count()
    target = void_path(grant.pk) if path == "void" else path
    response = key_client("read").post(target, {"agent_id": str(agent.pk), **body}, format="json")
    assert_json_error(response, 403, code="permission_denied")
    assert CreditLedgerEntry.objects.count() == before


def test_void_writes_off_the_remaining_and_answers_the_entry_and_the_grant(agent, key_client):
    grant = add(agent, "8", source="promotion")
    response = key_client("credits:write").post(void_path(grant.pk), {"reason": "sent by mistake"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["entry"]["kind"], data["entry"]["amount"], data["balance"]) == ("VOID", "-8.000000", "0.000000")
    assert (data["grant"]["id"], data["grant"]["status"], data["grant"]["remaining"]) == (grant.pk, "voided", "0.000000")
    assert balance(agent) == 0


def test_void_twice_is_a_400_with_a_code_and_changes_nothing(agent, key_client):
    grant = add(agent, "8")
    client = key_client("credits:write")
    assert client.post(void_path(grant.pk), {"reason": "r"}, format="json").status_code == 200
    body = assert_json_error(client.post(void_path(grant.pk), {"reason": "again"}, format="json"), 400, "grant", "invalid_parameter")
    assert "voided" in body["message"]
    assert CreditLedgerEntry.objects.filter(kind="VOID").count() == 1


def test_void_replayed_with_the_same_key_applies_once(agent, key_client):
    grant = add(agent, "8")
    client = key_client("credits:write")
    first = client.post(void_path(grant.pk), {"reason": "r"}, format="json", headers={"Idempotency-Key": "v-1"})
    again = client.post(void_path(grant.pk), {"reason": "r"}, format="json", headers={"Idempotency-Key": "v-1"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["entry"] == first.json()["entry"]
    assert CreditLedgerEntry.objects.filter(kind="VOID").count() == 1


@pytest.mark.parametrize("whose", ["unknown", "another outlet's"])
def test_void_of_an_unknown_or_another_outlets_grant_is_a_404(agent, key_client, whose):
    grant_id = 999999 if whose == "unknown" else add(AgentFactory(), "5").pk
    response = key_client("credits:write").post(void_path(grant_id), {"reason": "r"}, format="json")
    assert_json_error(response, 404, code="not_found")
    assert not CreditLedgerEntry.objects.filter(kind="VOID").exists()


def test_void_without_a_reason_is_a_400(agent, key_client):
    grant = add(agent, "5")
    assert_json_error(key_client("credits:write").post(void_path(grant.pk), {}, format="json"), 400, "reason")
    assert CreditGrant.objects.get(pk=grant.pk).status == "active"


def test_staff_may_void_any_outlets_grant(agent, staff_client):
    grant = add(agent, "5")
    assert staff_client.post(void_path(grant.pk), {"reason": "r"}, format="json").status_code == 200


def test_the_pool_answers_its_balance_what_is_available_and_its_usable_grants(outlet, key_client, clock):
    soon = add_to_pool(outlet, "40", expires_at=clock.now + timedelta(hours=1))
    lasting = add_to_pool(outlet, "60")
    add_to_pool(outlet, "7", expires_at=clock.now + timedelta(minutes=1))
    clock.advance(minutes=2)  # the third is past its expiry, not yet written off
    response = key_client("read").get(POOL)
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["outlet_id"], data["balance"], data["available"]) == (str(outlet.pk), "107.000000", "100.000000")
    assert [grant["id"] for grant in data["grants"]] == [soon.pk, lasting.pk]  # draw-down order


def test_staff_name_the_outlet_whose_pool_they_read(outlet, staff_client):
    assert_json_error(staff_client.get(POOL), 400, "outlet_id")
    assert_json_error(staff_client.get(POOL, {"outlet_id": "7c3a1b5e-0000-4000-8000-000000000000"}), 404)
    assert staff_client.get(POOL, {"outlet_id": str(outlet.pk)}).json()["balance"] == "0.000000"


def test_the_pool_refuses_unknown_query_parameters(key_client):
    assert_json_error(key_client("read").get(POOL, {"agent_id": "x"}), 400, "agent_id")


def test_allocate_moves_pool_credits_to_the_agent_and_answers_both_entries(agent, key_client):
    expiry = IN_A_WEEK
    add_to_pool(agent.outlet, "50", expires_at=expiry, priority=20)
    response = key_client("credits:write").post(ALLOCATE, {"agent_id": str(agent.pk), "amount": "30", "reason": "for May"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["agent_entry"]["kind"], data["agent_entry"]["amount"], data["agent_entry"]["pool"]) == ("ALLOCATE", "30.000000", False)
    assert (data["pool_entry"]["kind"], data["pool_entry"]["amount"], data["pool_entry"]["pool"]) == ("ALLOCATE", "-30.000000", True)
    assert (data["balance"], data["pool_balance"], data["replayed"]) == ("30.000000", "20.000000", False)
    [grant] = data["grants"]
    assert (grant["source"], grant["agent_id"], grant["priority"]) == ("allocation", str(agent.pk), 20)
    assert grant["expires_at"] == expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (balance(agent), pool_balance(agent.outlet)) == (Decimal("30"), Decimal("20"))


def test_reclaim_moves_unused_allocation_back_to_the_pool(agent, key_client):
    add_to_pool(agent.outlet, "50")
    client = key_client("credits:write")
    client.post(ALLOCATE, {"agent_id": str(agent.pk), "amount": "30", "reason": "r"}, format="json")
    response = client.post(RECLAIM, {"agent_id": str(agent.pk), "amount": "10", "reason": "unused"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["agent_entry"]["amount"], data["pool_entry"]["amount"]) == ("-10.000000", "10.000000")
    assert (data["balance"], data["pool_balance"]) == ("20.000000", "30.000000")
    assert [grant["pool"] for grant in data["grants"]] == [True]


@pytest.mark.parametrize(
    ("path", "amount"),
    [(ALLOCATE, "50.000001"), (RECLAIM, "0.5"), (ALLOCATE, "-1"), (ALLOCATE, "NaN"), (ALLOCATE, "1.0000001")],
    ids=["beyond-the-pool", "beyond-the-allocations", "negative", "nan", "places"],
)
def test_a_move_beyond_what_the_giving_side_holds_or_of_a_bad_amount_is_a_400_that_moves_nothing(agent, key_client, path, amount):
    add_to_pool(agent.outlet, "50")
    add(agent, "9")  # a purchase, not an allocation: reclaim leaves it
    before = CreditLedgerEntry.objects.count()
    response = key_client("credits:write").post(path, {"agent_id": str(agent.pk), "amount": amount, "reason": "r"}, format="json")
    assert_json_error(response, 400, "amount", "invalid_parameter")
    assert CreditLedgerEntry.objects.count() == before
    assert (balance(agent), pool_balance(agent.outlet)) == (Decimal("9"), Decimal("50"))


def test_allocating_to_another_outlets_agent_is_a_404(agent, key_client):
    add_to_pool(agent.outlet, "50")
    response = key_client("credits:write").post(ALLOCATE, {"agent_id": str(AgentFactory().pk), "amount": "5", "reason": "r"}, format="json")
    assert_json_error(response, 404, code="not_found")
    assert pool_balance(agent.outlet) == Decimal("50")


def test_an_allocation_replayed_with_the_same_key_moves_once(agent, key_client):
    add_to_pool(agent.outlet, "50")
    client = key_client("credits:write")
    body = {"agent_id": str(agent.pk), "amount": "5", "reason": "r"}
    first = client.post(ALLOCATE, body, format="json", headers={"Idempotency-Key": "a-1"})
    again = client.post(ALLOCATE, body, format="json", headers={"Idempotency-Key": "a-1"})
    assert again.status_code == 200 and again.json()["replayed"] is True and again["Idempotent-Replayed"] == "true"
    assert (again.json()["agent_entry"], again.json()["pool_entry"]) == (first.json()["agent_entry"], first.json()["pool_entry"])
    assert (balance(agent), pool_balance(agent.outlet)) == (Decimal("5"), Decimal("45"))


def test_staff_allocate_to_an_agent_of_any_outlet(agent, staff_client, staff_user):
    add_to_pool(agent.outlet, "50")
    response = staff_client.post(ALLOCATE, {"agent_id": str(agent.pk), "amount": "5", "reason": "r"}, format="json")
    assert response.status_code == 200, response.content
    assert CreditLedgerEntry.objects.filter(kind="ALLOCATE", actor_user=staff_user).count() == 2
