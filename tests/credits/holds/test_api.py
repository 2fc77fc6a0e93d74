"""The API of holds and spend controls (credits/holds/api.py): check, place, extend, release, list; PATCH agents."""

from datetime import timedelta
from decimal import Decimal

import pytest

from credits.agents import agent_controls_update
from credits.holds import services as holds
from credits.holds.models import CreditHold
from credits.models import CreditAccount
from tests.credits.test_api import ACTOR, BALANCES, add, assert_json_error, csv_rows
from tests.factories import AgentFactory, OutletFactory

HOLDS = "/api/v1/credits/holds/"
CHECK = "/api/v1/credits/check/"
AGENTS = "/api/v1/agents/"
MISSING = "7c3a1b5e-0000-4000-8000-000000000000"


def extend_path(hold_id) -> str:
    return f"{HOLDS}{hold_id}/extend/"


def release_path(hold_id) -> str:
    return f"{HOLDS}{hold_id}/release/"


def agent_path(agent_id) -> str:
    return f"{AGENTS}{agent_id}/"


def block(agent, overdraft_limit=None):
    agent_controls_update(agent=agent, changes={"enforcement": "block", "overdraft_limit": overdraft_limit})


def place(client, agent, amount, headers=None, **body):
    return client.post(HOLDS, {"agent_id": str(agent.pk), "amount": str(amount), **body}, format="json", headers=headers or {})


def hold_of(agent, amount, **kwargs) -> CreditHold:
    return holds.hold_place(agent=agent, amount=Decimal(amount), actor=ACTOR, **kwargs).hold


@pytest.fixture
def writer(key_client):
    return key_client("credits:write")


def test_placing_a_hold_answers_201_with_the_hold_and_what_stays_available(agent, writer, key_client):
    add(agent, "100")
    response = place(writer, agent, "30", reference="call-1", ttl_seconds=60)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["success"], body["available"], body["replayed"]) == (True, "70.000000", False)
    hold = body["hold"]
    assert hold | {"id": None, "expires_at": None, "created_at": None, "updated_at": None, "actor": None} == {
        "id": None, "agent_id": str(agent.pk), "outlet_id": str(agent.outlet_id), "amount": "30.000000",
        "captured": "0.000000", "held": "30.000000", "status": "active", "reference": "call-1", "ttl_seconds": 60,
        "expires_at": None, "ended_at": None, "actor": None, "created_at": None, "updated_at": None,
    }
    assert hold["actor"].startswith("api_key:")
    balances = key_client("read").get(BALANCES).json()
    assert (balances["items"][0]["held"], balances["items"][0]["available"]) == ("30.000000", "70.000000")
    assert (balances["items"][0]["balance"], balances["totals"]["held"]) == ("100.000000", "30.000000")


def test_a_hold_that_leaves_10_available_then_one_more_is_refused_with_402(agent, writer):
    block(agent)
    add(agent, "100")
    assert place(writer, agent, "90").json()["available"] == "10.000000"
    refused = place(writer, agent, "10.5")
    body = assert_json_error(refused, 402, field="amount", code="insufficient_credits")
    assert (body["available"], body["requested"]) == ("10.000000", "10.500000")
    assert "10.000000" in body["message"]
    assert CreditHold.objects.count() == 1
    assert CreditAccount.objects.get(pk=agent.pk).hold_refused_at is not None
    assert place(writer, agent, "10").status_code == 201  # exactly what is left is still granted


def test_an_agent_that_is_not_blocked_is_always_granted(agent, writer):
    assert place(writer, agent, "5").json()["available"] == "-5.000000"


def test_the_overdraft_limit_lets_a_blocked_agent_go_that_far_below_zero(agent, writer):
    block(agent, overdraft_limit="5")
    assert place(writer, agent, "5").status_code == 201
    assert_json_error(place(writer, agent, "0.000001"), 402, code="insufficient_credits")


def test_extending_reserves_more_and_renews_the_lease(agent, writer, clock):
    add(agent, "100")
    hold = hold_of(agent, "10", ttl_seconds=60)
    clock.advance(seconds=50)
    response = writer.post(extend_path(hold.pk), {"amount": "5", "ttl_seconds": 120}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["hold"]["amount"], body["hold"]["ttl_seconds"], body["available"]) == ("15.000000", 120, "85.000000")
    assert CreditHold.objects.get().expires_at == clock.now + timedelta(seconds=120)
    renewed = writer.post(extend_path(hold.pk), {}, format="json").json()["hold"]  # amount 0, the last ttl
    assert (renewed["amount"], renewed["ttl_seconds"]) == ("15.000000", 120)


def test_an_extension_past_the_limit_is_a_402_that_leaves_the_hold_as_it_was(agent, writer):
    block(agent)
    add(agent, "20")
    hold = hold_of(agent, "15")
    body = assert_json_error(writer.post(extend_path(hold.pk), {"amount": "6"}, format="json"), 402, code="insufficient_credits")
    assert (body["available"], body["requested"]) == ("5.000000", "6.000000")
    assert CreditHold.objects.get().amount == Decimal("15")


def test_extending_an_ended_hold_is_a_409_hold_conflict(agent, writer, clock):
    hold = hold_of(agent, "1", ttl_seconds=10)
    clock.advance(seconds=10)
    assert_json_error(writer.post(extend_path(hold.pk), {}, format="json"), 409, field="hold", code="hold_conflict")


def test_a_second_live_hold_for_one_reference_is_a_409_hold_conflict(agent, writer):
    assert place(writer, agent, "1", reference="call-7").status_code == 201
    assert_json_error(place(writer, agent, "1", reference="call-7"), 409, field="reference", code="hold_conflict")


@pytest.mark.parametrize("body", [{}, None], ids=["empty object", "no body"])
def test_releasing_gives_back_what_was_held_and_again_changes_nothing(agent, writer, body):
    add(agent, "10")
    hold = hold_of(agent, "4")
    response = writer.post(release_path(hold.pk), body, format="json" if body is not None else None)
    assert response.status_code == 200, response.content
    assert (response.json()["hold"]["status"], response.json()["hold"]["held"], response.json()["available"]) == (
        "released", "0.000000", "10.000000",
    )
    again = writer.post(release_path(hold.pk), {}, format="json")
    assert (again.status_code, again.json()["hold"]["status"]) == (200, "released")


def test_holds_list_filters_by_agent_status_and_reference(outlet, agent, key_client, clock, django_assert_max_num_queries):
    other = AgentFactory(outlet=outlet)
    live = hold_of(agent, "1", reference="call-1")
    clock.advance(seconds=1)
    lapsed = hold_of(agent, "2", ttl_seconds=5)
    clock.advance(seconds=1)
    released = hold_of(other, "3", reference="call-2")
    holds.hold_release(outlet_id=None, hold_id=released.pk, actor=ACTOR)
    clock.advance(seconds=10)
    client = key_client("read")

    def ids(**params):
        with django_assert_max_num_queries(3):
            response = client.get(HOLDS, params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [str(released.pk), str(lapsed.pk), str(live.pk)]  # newest first
    assert ids(agent_id=str(agent.pk)) == [str(lapsed.pk), str(live.pk)]
    assert ids(status="active") == [str(live.pk)]
    assert ids(status="EXPIRED") == [str(lapsed.pk)]  # past its expiry, whether or not the sweep ran
    assert ids(status=["released", "expired"]) == [str(released.pk), str(lapsed.pk)]
    assert ids(reference="call-2") == [str(released.pk)]
    assert client.get(HOLDS, {"agent_id": str(agent.pk)}).json()["items"][0]["status"] == "expired"
    assert_json_error(client.get(HOLDS, {"state": "active"}), 400, field="state")


def test_holds_csv_streams_every_matching_hold(agent, key_client, clock):
    for amount in (1, 2, 3):
        hold_of(agent, amount)
        clock.advance(seconds=1)
    rows = csv_rows(key_client("read").get(HOLDS, {"format": "csv", "agent_id": str(agent.pk)}))
    assert [row["amount"] for row in rows] == ["3.000000", "2.000000", "1.000000"]
    assert set(rows[0]) >= {"id", "agent_id", "amount", "captured", "held", "status", "reference", "expires_at"}


def test_another_outlets_hold_is_a_404_for_every_verb(agent, key_client):
    hold = hold_of(agent, "1", reference="call-1")
    stranger = key_client("read", "credits:write", for_outlet=OutletFactory())
    assert_json_error(stranger.post(extend_path(hold.pk), {"amount": "1"}, format="json"), 404, code="not_found")
    assert_json_error(stranger.post(release_path(hold.pk), {}, format="json"), 404, code="not_found")
    assert_json_error(place(stranger, agent, "1"), 404, code="not_found")
    assert_json_error(stranger.get(CHECK, {"agent_id": str(agent.pk), "amount": "1"}), 404, code="not_found")
    assert stranger.get(HOLDS).json()["items"] == []
    assert stranger.get(HOLDS, {"agent_id": str(agent.pk)}).json()["items"] == []
    assert stranger.get(HOLDS, {"reference": "call-1"}).json()["items"] == []
    assert CreditHold.objects.get().status == "active"


@pytest.mark.parametrize("scope", ["read", "ingest"])
def test_a_key_without_credits_write_gets_403_on_every_write(agent, key_client, scope):
    hold = hold_of(agent, "1")
    client = key_client(scope)
    writes = [
        place(client, agent, "1"),
        client.post(extend_path(hold.pk), {"amount": "1"}, format="json"),
        client.post(release_path(hold.pk), {}, format="json"),
        client.patch(agent_path(agent.pk), {"enforcement": "block"}, format="json"),
    ]
    for response in writes:
        assert_json_error(response, 403, code="permission_denied")
    assert CreditHold.objects.get().status == "active" and CreditHold.objects.count() == 1


def test_a_staff_session_holds_for_any_outlets_agent(agent, staff_client):
    response = place(staff_client, agent, "2")
    assert response.status_code == 201
    assert staff_client.post(release_path(response.json()["hold"]["id"]), {}, format="json").status_code == 200


def test_a_replayed_hold_answers_200_with_the_header_and_reserves_once(agent, writer):
    add(agent, "10")
    headers = {"Idempotency-Key": "call-1-answer"}
    first = place(writer, agent, "4", headers, reference="call-1")
    again = place(writer, agent, "4", headers, reference="call-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true" and again.json()["replayed"] is True
    assert again.json()["hold"]["id"] == first.json()["hold"]["id"] and again.json()["available"] == "6.000000"
    assert CreditHold.objects.count() == 1
    conflict = place(writer, agent, "5", headers, reference="call-1")
    assert_json_error(conflict, 409, field="idempotency_key", code="idempotency_conflict")


def test_replayed_extensions_and_releases_apply_once(agent, writer):
    hold = hold_of(agent, "1")
    headers = {"Idempotency-Key": "lease-1"}
    for _ in range(2):
        last = writer.post(extend_path(hold.pk), {"amount": "2"}, format="json", headers=headers)
    assert (last.json()["hold"]["amount"], last["Idempotent-Replayed"]) == ("3.000000", "true")
    conflict = writer.post(extend_path(hold.pk), {"amount": "3"}, format="json", headers=headers)
    assert_json_error(conflict, 409, code="idempotency_conflict")
    release = {"Idempotency-Key": "hang-up-1"}
    assert writer.post(release_path(hold.pk), {}, format="json", headers=release).json()["replayed"] is False
    assert writer.post(release_path(hold.pk), {}, format="json", headers=release)["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "NaN"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.0000001"}, "amount"),
        ({"reference": "call\x00one"}, "reference"),
        ({"reference": "r" * 256}, "reference"),
        ({"ttl_seconds": 0}, "ttl_seconds"),
        ({"ttl_seconds": 86_401}, "ttl_seconds"),
        ({"ttl_seconds": "abc"}, "ttl_seconds"),
        ({"ttl_seconds": 1.5}, "ttl_seconds"),
        ({"agent_id": "not-a-uuid"}, "agent_id"),
        ({"expires_in": 60}, "expires_in"),
    ],
)
def test_a_bad_hold_body_is_a_400_naming_the_field(agent, writer, body, field):
    response = writer.post(HOLDS, {"agent_id": str(agent.pk), "amount": "1", **body}, format="json")
    assert_json_error(response, 400, field=field, code="invalid_parameter")
    assert not CreditHold.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"amount": "-1"}, "amount"), ({"amount": "NaN"}, "amount"), ({"ttl_seconds": 0}, "ttl_seconds"), ({"more": 1}, "more")],
)
def test_a_bad_extension_is_a_400_naming_the_field(agent, writer, body, field):
    hold = hold_of(agent, "1")
    assert_json_error(writer.post(extend_path(hold.pk), body, format="json"), 400, field=field, code="invalid_parameter")
    assert CreditHold.objects.get().amount == Decimal("1")


def test_a_release_body_with_a_field_is_a_400(agent, writer):
    hold = hold_of(agent, "1")
    assert_json_error(writer.post(release_path(hold.pk), {"amount": "1"}, format="json"), 400, field="amount")
    assert CreditHold.objects.get().status == "active"


@pytest.mark.parametrize("path", [extend_path("nope"), release_path("12"), agent_path("x y")])
def test_an_id_in_the_path_that_is_not_a_uuid_is_a_400(writer, path, db):
    response = writer.patch(path, {}, format="json") if path.startswith(AGENTS) else writer.post(path, {}, format="json")
    assert_json_error(response, 400, field="id", code="invalid_parameter")


@pytest.mark.parametrize("path", [extend_path(MISSING), release_path(MISSING), agent_path(MISSING)])
def test_an_unknown_id_in_the_path_is_a_404(writer, path, db):
    response = writer.patch(path, {}, format="json") if path.startswith(AGENTS) else writer.post(path, {}, format="json")
    assert_json_error(response, 404, code="not_found")


def test_check_answers_whether_a_hold_would_be_granted_and_reserves_nothing(agent, key_client, django_assert_max_num_queries):
    block(agent)
    add(agent, "20")
    hold_of(agent, "5")
    client = key_client("read")
    with django_assert_max_num_queries(3):  # the key, its last use, the account with what it holds
        response = client.get(CHECK, {"agent_id": str(agent.pk), "amount": "15"})
    assert response.json() == {
        "success": True, "allowed": True, "available": "15.000000", "balance": "20.000000", "held": "5.000000"
    }
    assert client.get(CHECK, {"agent_id": str(agent.pk), "amount": "15.000001"}).json()["allowed"] is False
    assert CreditHold.objects.count() == 1 and CreditAccount.objects.get(pk=agent.pk).hold_refused_at is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount": "1"}, "agent_id"),
        ({"agent_id": "{agent}"}, "amount"),
        ({"agent_id": "{agent}", "amount": "-1"}, "amount"),
        ({"agent_id": "{agent}", "amount": "NaN"}, "amount"),
        ({"agent_id": "{agent}", "amount": "1", "ttl": "5"}, "ttl"),
    ],
)
def test_a_bad_check_is_a_400_naming_the_parameter(agent, key_client, params, field):
    params = {name: value.format(agent=agent.pk) for name, value in params.items()}
    assert_json_error(key_client("read").get(CHECK, params), 400, field=field, code="invalid_parameter")


CONTROLS = {
    "low_balance_threshold": "25.000000",
    "enforcement": "block",
    "overdraft_limit": "5.000000",
    "auto_top_up": {"threshold": "20.000000", "amount": "100.000000", "source": "pool", "max_per_day": 3},
}


def test_patching_an_agents_controls_answers_its_own_and_the_effective_ones(agent, writer, key_client):
    response = writer.patch(agent_path(agent.pk), CONTROLS, format="json")
    assert response.status_code == 200, response.content
    answered = response.json()["agent"]
    assert {name: answered[name] for name in CONTROLS} == CONTROLS
    assert answered["effective"] == {
        "enforcement": "block", "overdraft_limit": "5.000000", "auto_top_up": CONTROLS["auto_top_up"],
    }
    listed = key_client("read").get(AGENTS).json()["items"][0]
    assert listed == answered
    agent.refresh_from_db()
    assert (agent.enforcement, agent.top_up_source, agent.top_up_max_per_day) == ("block", "pool", 3)


def test_null_hands_a_control_back_to_the_outlets_default(outlet, agent, writer):
    outlet.enforcement, outlet.overdraft_limit = "block", Decimal("2")
    outlet.top_up_threshold, outlet.top_up_amount, outlet.top_up_source, outlet.top_up_max_per_day = (
        Decimal("1"), Decimal("10"), "external", 1,
    )
    outlet.save()
    writer.patch(agent_path(agent.pk), CONTROLS | {"enforcement": "off"}, format="json")
    only_enforcement = writer.patch(agent_path(agent.pk), {"enforcement": None}, format="json").json()["agent"]
    assert (only_enforcement["enforcement"], only_enforcement["effective"]["enforcement"]) == (None, "block")
    assert only_enforcement["overdraft_limit"] == "5.000000"  # untouched: not in the body
    body = {"low_balance_threshold": None, "overdraft_limit": None, "auto_top_up": None}
    reset = writer.patch(agent_path(agent.pk), body, format="json").json()["agent"]
    assert (reset["low_balance_threshold"], reset["threshold"], reset["overdraft_limit"], reset["auto_top_up"]) == (
        None, "10.000000", None, None,
    )
    assert reset["effective"] == {
        "enforcement": "block", "overdraft_limit": "2.000000",
        "auto_top_up": {"threshold": "1.000000", "amount": "10.000000", "source": "external", "max_per_day": 1},
    }


def test_an_agent_with_nothing_set_anywhere_is_off_with_no_overdraft_and_no_rule(agent, key_client):
    listed = key_client("read").get(AGENTS).json()["items"][0]
    assert (listed["enforcement"], listed["overdraft_limit"], listed["auto_top_up"]) == (None, None, None)
    assert listed["effective"] == {"enforcement": "off", "overdraft_limit": "0.000000", "auto_top_up": None}


RULE = CONTROLS["auto_top_up"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enforcement": "warn"}, "enforcement"),
        ({"overdraft_limit": "-1"}, "overdraft_limit"),
        ({"overdraft_limit": "NaN"}, "overdraft_limit"),
        ({"low_balance_threshold": "-0.5"}, "low_balance_threshold"),
        ({"auto_top_up": {"threshold": "1", "amount": "5", "source": "pool"}}, "auto_top_up"),
        ({"auto_top_up": RULE | {"amount": "0"}}, "auto_top_up"),
        ({"auto_top_up": RULE | {"threshold": "-1"}}, "auto_top_up"),
        ({"auto_top_up": RULE | {"max_per_day": 1001}}, "auto_top_up"),
        ({"auto_top_up": RULE | {"source": "card"}}, "auto_top_up"),
        ({"auto_top_up": RULE | {"every": "day"}}, "auto_top_up"),
        ({"auto_top_up": "pool"}, "auto_top_up"),
        ({"name": "renamed"}, "name"),
    ],
)
def test_a_bad_control_is_a_400_naming_it_and_changes_nothing(agent, writer, body, field):
    response = writer.patch(agent_path(agent.pk), CONTROLS | body, format="json")
    assert_json_error(response, 400, field=field, code="invalid_parameter")
    agent.refresh_from_db()
    assert (agent.enforcement, agent.top_up_source, agent.name) == (None, None, agent.name)


def test_another_outlets_agent_is_a_404_to_patch_and_staff_may_patch_any(agent, key_client, staff_client):
    stranger = key_client("credits:write", for_outlet=OutletFactory())
    assert_json_error(stranger.patch(agent_path(agent.pk), {"enforcement": "block"}, format="json"), 404, code="not_found")
    assert staff_client.patch(agent_path(agent.pk), {"enforcement": "BLOCK"}, format="json").json()["agent"]["enforcement"] == "block"


def test_the_service_refuses_a_rule_that_is_not_whole(agent):
    from config.errors import DomainError

    with pytest.raises(DomainError) as refused:
        agent_controls_update(agent=agent, changes={"auto_top_up": {"threshold": Decimal("1"), "amount": Decimal("1")}})
    assert "auto_top_up" in refused.value.errors


def test_the_schema_documents_402_on_placing_and_extending_and_409_where_a_hold_conflicts(client, db):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    place_op, extend_op = paths[HOLDS]["post"], paths["/api/v1/credits/holds/{id}/extend/"]["post"]
    for operation in (place_op, extend_op):
        assert {"400", "402", "403", "404", "409"} <= set(operation["responses"])
        assert "insufficient_credits" in operation["responses"]["402"]["description"]
        assert "hold_conflict" in operation["responses"]["409"]["description"]
        assert "Idempotency-Key" in {parameter["name"] for parameter in operation["parameters"]}
    release_op = paths["/api/v1/credits/holds/{id}/release/"]["post"]
    assert "402" not in release_op["responses"] and "409" in release_op["responses"]
    assert {"agent_id", "status", "reference", "format"} <= {p["name"] for p in paths[HOLDS]["get"]["parameters"]}
    assert {"agent_id", "amount"} <= {p["name"] for p in paths[CHECK]["get"]["parameters"]}
    assert {"400", "403", "404"} <= set(paths["/api/v1/agents/{id}/"]["patch"]["responses"])


def test_the_agents_list_reads_their_controls_in_a_fixed_number_of_queries(outlet, key_client, django_assert_max_num_queries):
    for _ in range(10):
        agent_controls_update(agent=AgentFactory(outlet=outlet), changes={"auto_top_up": RULE, "enforcement": "block"})
    client = key_client("read")
    with django_assert_max_num_queries(3):
        items = client.get(AGENTS).json()["items"]
    assert [item["effective"]["auto_top_up"] for item in items] == [RULE] * 10
