import csv
import io
import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from credits import pool, scoping, selectors, services, writeoffs
from credits.grants import GrantTerms
from credits.models import CreditAccount, CreditGrant, CreditLedgerEntry
from tests.factories import AgentFactory, OutletFactory

ACTOR = services.Actor.system("tests")
CREDITS_SET = "/api/v1/credits/set/"
BALANCES = "/api/v1/credits/balances/"
LEDGER = "/api/v1/credits/ledger/"
GRANTS = "/api/v1/credits/grants/"
POOL = "/api/v1/credits/pool/"
ALLOCATE = "/api/v1/credits/allocate/"
RECLAIM = "/api/v1/credits/reclaim/"
IN_A_WEEK = (timezone.now() + timedelta(days=7)).replace(microsecond=0)


def void_path(grant_id) -> str:
    return f"{GRANTS}{grant_id}/void/"


def add(agent, amount, **terms) -> CreditGrant:
    return services.credits_add(agent=agent, amount=Decimal(amount), actor=ACTOR, reason="top-up", terms=GrantTerms(**terms)).grant


def add_to_pool(outlet, amount, **terms) -> CreditGrant:
    return services.pool_add(outlet=outlet, amount=Decimal(amount), actor=ACTOR, reason="bought", terms=GrantTerms(**terms)).grant


def balance(agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def pool_balance(outlet) -> Decimal:
    return selectors.pool_account_get(outlet_id=outlet.pk).balance


def assert_json_error(response, status: int, field: str | None = None, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["message"] and body["code"] == (code or body["code"])
    if field is not None:
        assert field in body["errors"], body
    return body


def post_operation(client, headers=None, **body):
    return client.post(CREDITS_SET, body, format="json", headers=headers or {})


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_outlets_lists_the_callers_outlet(outlet, key_client):
    body = key_client("read").get("/api/v1/outlets/").json()
    assert body["success"] is True
    assert [item["name"] for item in body["items"]] == [outlet.name]
    assert body["items"][0]["billing_cycle_day"] == 1


def test_agents_lists_with_balance_and_effective_threshold(agent, key_client):
    services.credits_add(agent=agent, amount=Decimal("4"), actor=ACTOR, reason="top-up")
    AgentFactory(outlet=agent.outlet, external_id="other", low_balance_threshold=Decimal("2"))
    items = key_client("read").get("/api/v1/agents/", {"external_id": agent.external_id}).json()["items"]
    assert len(items) == 1
    assert items[0]["balance"] == "4.000000"
    assert items[0]["threshold"] == "10.000000"  # the outlet's, as the agent has none


def test_balances_flag_low_accounts_and_total_the_outlet(outlet, key_client):
    rich, poor = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet, low_balance_threshold=Decimal("5"))
    services.credits_add(agent=rich, amount=Decimal("50"), actor=ACTOR, reason="top-up")
    services.credits_add(agent=poor, amount=Decimal("4.5"), actor=ACTOR, reason="top-up")
    body = key_client("read").get(BALANCES).json()
    by_agent = {item["agent_id"]: item for item in body["items"]}
    assert by_agent[str(rich.pk)]["low"] is False
    assert (by_agent[str(poor.pk)]["low"], by_agent[str(poor.pk)]["threshold"]) == (True, "5.000000")
    assert body["totals"] == {"balance": "54.500000", "held": "0.000000", "agents": 2, "low": 1}
    only_low = key_client("read").get(BALANCES, {"low": "true"}).json()
    assert [item["agent_id"] for item in only_low["items"]] == [str(poor.pk)]
    assert only_low["totals"]["agents"] == 1


def test_balances_list_runs_a_fixed_number_of_queries(outlet, key_client, django_assert_max_num_queries):
    for _ in range(20):
        AgentFactory(outlet=outlet)
    client = key_client("read")
    with django_assert_max_num_queries(5):
        assert len(client.get(BALANCES).json()["items"]) == 20


def test_ledger_lists_entries_with_filters(outlet, key_client):
    first, second = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    services.credits_add(agent=first, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    services.credits_set(agent=first, amount=Decimal("1"), actor=ACTOR, reason="set")
    services.credits_add(agent=second, amount=Decimal("7"), actor=ACTOR, reason="top-up")
    client = key_client("read")
    assert len(client.get(LEDGER).json()["items"]) == 3
    for_first = client.get(LEDGER, {"agent_id": str(first.pk)}).json()["items"]
    assert [item["kind"] for item in for_first] == ["SET", "ADD"]
    assert for_first[0]["effective_at"] == for_first[0]["created_at"]
    assert for_first[0] | {"effective_at": None, "created_at": None, "id": None} == {
        "id": None, "agent_id": str(first.pk), "pool": False, "outlet_id": str(outlet.pk), "kind": "SET", "amount": "-4.000000",
        "balance_after": "1.000000", "actor": "system:tests", "reason": "set", "idempotency_key": None,
        "ingest_batch_id": None, "effective_at": None, "created_at": None,
    }
    adds = client.get(LEDGER, {"kind": ["ADD", "SET"], "agent_id": str(second.pk)}).json()["items"]
    assert [item["amount"] for item in adds] == ["7.000000"]


def test_ledger_date_range_is_end_inclusive(agent, key_client):
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    today = timezone.now().date()
    client = key_client("read")
    assert len(client.get(LEDGER, {"from": str(today), "to": str(today)}).json()["items"]) == 1
    yesterday = today - timedelta(days=1)
    assert client.get(LEDGER, {"start_date": str(yesterday), "end_date": str(yesterday)}).json()["items"] == []


def test_ledger_dates_are_a_kolkata_outlets_local_dates_and_its_csv_carries_its_offset(key_client, staff_client):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    seventh_evening = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)  # 01:30 on the 8th in Kolkata
    for moment in (seventh_evening, seventh_evening + timedelta(days=1)):
        services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason=moment.isoformat(), effective_at=moment)
    the_8th = {"start_date": "2026-03-08", "end_date": "2026-03-08"}
    client = key_client("read", for_outlet=agent.outlet)
    assert [item["effective_at"] for item in client.get(LEDGER, the_8th).json()["items"]] == ["2026-03-07T20:00:00Z"]
    assert [row["effective_at"] for row in csv_rows(client.get(LEDGER, {**the_8th, "format": "csv"}))] == [
        "2026-03-08T01:30:00+05:30"
    ]
    staff = [item["effective_at"] for item in staff_client.get(LEDGER, the_8th).json()["items"]]
    assert staff == ["2026-03-08T20:00:00Z"]  # staff over every outlet: UTC dates


def test_a_list_reads_the_callers_outlet_once_for_its_rows_dates_and_csv(agent, staff_client):
    with mock.patch("credits.scoping.caller_outlet_id", wraps=scoping.caller_outlet_id) as read:
        response = staff_client.get(LEDGER, {"outlet_id": str(agent.outlet_id), "format": "csv"})
    assert response.status_code == 200 and read.call_count == 1


@pytest.mark.parametrize(
    "params",
    [{"kind": "STEAL"}, {"agent_id": "nope"}, {"start_date": "2026-02-30"}, {"from": "2026-02-02", "to": "2026-02-01"}, {"format": "xml"}],
)
def test_ledger_bad_parameters_are_json_400(key_client, params):
    response = key_client("read").get(LEDGER, params)
    assert response.status_code == 400
    assert response.json()["success"] is False and response.json()["message"]


def test_ledger_csv_streams_every_matching_entry(agent, key_client):
    for index in range(60):
        services.credits_add(agent=agent, amount=Decimal(index + 1), actor=ACTOR, reason="bulk")
    response = key_client("read").get(LEDGER, {"format": "csv", "take": 5})
    rows = csv_rows(response)
    assert len(rows) == 60
    assert rows[0]["amount"] == "60.000000" and rows[0]["kind"] == "ADD"
    assert "attachment" in response["Content-Disposition"]


def test_balances_csv_has_one_row_per_account(outlet, key_client):
    AgentFactory.create_batch(3, outlet=outlet)
    rows = csv_rows(key_client("read").get(BALANCES, {"format": "csv"}))
    assert len(rows) == 3 and set(rows[0]) >= {"agent_id", "balance", "threshold", "low"}


@pytest.mark.parametrize(
    ("mode", "amount", "expected_kind", "expected_balance"),
    [("add", "2.5", "ADD", "12.500000"), ("set", "3", "SET", "3.000000"), ("clear", None, "CLEAR", "0.000000")],
)
def test_credit_operation_writes_one_entry_and_returns_the_balance(agent, key_client, mode, amount, expected_kind, expected_balance):
    services.credits_add(agent=agent, amount=Decimal("10"), actor=ACTOR, reason="start")
    body = {"agent_id": str(agent.pk), "mode": mode, "reason": "support ticket 42"}
    if amount is not None:
        body["amount"] = amount
    response = post_operation(key_client("credits:write"), **body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["success"] is True
    assert (data["balance_before"], data["balance"], data["replayed"]) == ("10.000000", expected_balance, False)
    assert data["entry"]["kind"] == expected_kind
    assert data["entry"]["actor"].startswith("api_key:")
    assert CreditLedgerEntry.objects.count() == 2


def test_staff_session_may_write_credits_as_itself(agent, staff_client, staff_user):
    response = post_operation(staff_client, agent_id=str(agent.pk), mode="add", amount="1", reason="goodwill")
    assert response.status_code == 200
    assert CreditLedgerEntry.objects.get().actor_user == staff_user


def test_same_idempotency_key_replays_the_first_result(agent, key_client):
    client = key_client("credits:write")
    headers = {"Idempotency-Key": "order-981"}
    first = post_operation(client, headers, agent_id=str(agent.pk), mode="add", amount="5", reason="purchase")
    again = post_operation(client, headers, agent_id=str(agent.pk), mode="add", amount="5", reason="purchase")
    assert first.json()["entry"] == again.json()["entry"]
    assert again.json()["replayed"] is True and again["Idempotent-Replayed"] == "true"
    assert CreditLedgerEntry.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_a_409(agent, key_client):
    client = key_client("credits:write")
    headers = {"Idempotency-Key": "order-981"}
    post_operation(client, headers, agent_id=str(agent.pk), mode="add", amount="5", reason="purchase")
    conflict = post_operation(client, headers, agent_id=str(agent.pk), mode="add", amount="6", reason="purchase")
    assert conflict.status_code == 409
    assert conflict.json()["success"] is False and "Idempotency-Key" in conflict.json()["message"]
    assert CreditLedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "add", "amount": "-5"}, "amount"),
        ({"mode": "add", "amount": "0"}, "amount"),
        ({"mode": "add", "amount": "1.1234567"}, "amount"),
        ({"mode": "add", "amount": "lots"}, "amount"),
        ({"mode": "add", "amount": "1e30"}, "amount"),
        ({"mode": "set", "amount": "-1"}, "amount"),
        ({"mode": "set"}, "amount"),
        ({"mode": "teleport", "amount": "1"}, "mode"),
        ({"mode": "add", "amount": "1", "reason": "   "}, "reason"),
        ({"mode": "add", "amount": "1", "reason": "x" * 1001}, "reason"),
        ({"mode": "add", "amount": "1", "agent_id": "not-a-uuid"}, "agent_id"),
    ],
)
def test_bad_credit_operations_are_json_400_and_write_nothing(agent, key_client, body, field):
    payload = {"agent_id": str(agent.pk), "reason": "because", **body}
    response = post_operation(key_client("credits:write"), **payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not CreditLedgerEntry.objects.exists()


def test_a_credit_operation_may_take_effect_earlier_and_the_ledger_lists_it_then(agent, key_client):
    client = key_client("credits:write", "read")
    paid_at = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    post_operation(client, agent_id=str(agent.pk), mode="add", amount="5", reason="today's top-up")
    response = post_operation(
        client, agent_id=str(agent.pk), mode="add", amount="7", reason="paid earlier",
        effective_at=paid_at.astimezone(ZoneInfo("Asia/Tokyo")).isoformat(),
    )
    assert response.status_code == 200, response.content
    assert response.json()["entry"]["effective_at"] == paid_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    day = paid_at.date().isoformat()
    assert [item["reason"] for item in client.get(LEDGER, {"from": day, "to": day}).json()["items"]] == ["paid earlier"]
    newest = client.get(LEDGER, {"take": 1}).json()
    older = client.get(LEDGER, {"take": 1, "cursor": newest["cursor"]}).json()
    assert [item["reason"] for item in newest["items"] + older["items"]] == ["today's top-up", "paid earlier"]


@pytest.mark.parametrize(
    "effective_at",
    ["2999-01-01T00:00:00Z", "2026-11-20T09:00:00", "last tuesday", "2026-11-20T09:00:00Z\x00", 12],
)
def test_a_credit_operation_effective_in_the_future_or_at_no_clear_time_is_a_400(agent, key_client, effective_at):
    response = post_operation(
        key_client("credits:write"), agent_id=str(agent.pk), mode="add", amount="5", reason="r", effective_at=effective_at
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_parameter"
    assert "effective_at" in response.json()["errors"]
    assert not CreditLedgerEntry.objects.exists()


def test_operation_on_an_unknown_agent_is_a_404(db, key_client):
    response = post_operation(key_client("credits:write"), agent_id="7c3a1b5e-0000-4000-8000-000000000000", mode="add", amount="1", reason="x")
    assert response.status_code == 404 and response.json()["message"] == "Agent not found."


def test_an_agent_may_be_named_by_its_external_id_and_a_mode_in_any_case(agent, key_client):
    response = post_operation(key_client("credits:write"), agent_external_id=agent.external_id, mode="ADD", amount="2", reason="x")
    assert response.status_code == 200, response.content
    assert response.json()["entry"]["agent_id"] == str(agent.pk) and response.json()["entry"]["kind"] == "ADD"


def test_another_outlets_external_id_is_a_404(agent, key_client):
    stranger = AgentFactory()
    response = post_operation(key_client("credits:write"), agent_external_id=stranger.external_id, mode="add", amount="1", reason="x")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not CreditLedgerEntry.objects.exists()


def test_staff_naming_an_agent_by_external_id_must_say_the_outlet(agent, staff_client):
    body = {"agent_external_id": agent.external_id, "mode": "add", "amount": "1", "reason": "x"}
    assert list(post_operation(staff_client, **body).json()["errors"]) == ["outlet_id"]
    response = staff_client.post(f"{CREDITS_SET}?outlet_id={agent.outlet_id}", body, format="json")
    assert response.status_code == 200 and response.json()["entry"]["agent_id"] == str(agent.pk)


@pytest.mark.parametrize("names", [{}, {"agent_id": None, "agent_external_id": None}], ids=["neither", "both"])
def test_exactly_one_of_agent_id_and_agent_external_id_is_given(agent, key_client, names):
    names = {name: str(agent.pk) if name == "agent_id" else agent.external_id for name in names}
    response = post_operation(key_client("credits:write"), mode="add", amount="1", reason="x", **names)
    assert response.status_code == 400 and set(response.json()["errors"]) == {"agent_id", "agent_external_id"}
    assert not CreditLedgerEntry.objects.exists()


def test_overlong_idempotency_key_is_a_400(agent, key_client):
    response = post_operation(
        key_client("credits:write"), {"Idempotency-Key": "k" * 300}, agent_id=str(agent.pk), mode="add", amount="1", reason="x"
    )
    assert response.status_code == 400
    assert not CreditLedgerEntry.objects.exists()


def test_schema_documents_every_endpoint_and_the_bearer_scheme(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    for path in [
        "/api/v1/credits/balances/", "/api/v1/credits/ledger/", "/api/v1/credits/set/", "/api/v1/outlets/", "/api/v1/agents/",
        "/api/v1/auth/token/", GRANTS, "/api/v1/credits/grants/{id}/void/", POOL, ALLOCATE, RECLAIM,
    ]:
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    ledger_params = {param["name"] for param in schema["paths"]["/api/v1/credits/ledger/"]["get"]["parameters"]}
    assert ledger_params >= {"agent_id", "kind", "start_date", "end_date", "from", "to", "cursor", "order", "take", "format"}
    for path in [CREDITS_SET, GRANTS, "/api/v1/credits/grants/{id}/void/", ALLOCATE, RECLAIM]:
        operation = schema["paths"][path]["post"]
        assert "Idempotency-Key" in {param["name"] for param in operation["parameters"]}, path
        assert {"400", "403", "404", "409"} <= set(operation["responses"]), path
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("Input"), path
    grants_params = {param["name"] for param in schema["paths"][GRANTS]["get"]["parameters"]}
    assert grants_params >= {"agent_id", "pool", "status", "source", "cursor", "take", "format"}


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn." not in html and "unpkg" not in html


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_another_outlet_sees_none_of_this_outlets_entries(agent, key_client):
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up")
    stranger = key_client("read", for_outlet=OutletFactory())
    assert stranger.get(LEDGER).json()["items"] == []
    assert stranger.get(LEDGER, {"agent_id": str(agent.pk)}).json()["items"] == []


def test_openapi_schema_is_valid_and_generates_without_warnings(db):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


@pytest.mark.parametrize("path", ["/api/v1/outlets/", "/api/v1/agents/", BALANCES, LEDGER, GRANTS])
@pytest.mark.parametrize(
    "params",
    [{"take": "-1"}, {"order": "up"}, {"format": "pdf"}, {"cursor": "garbage"}, {"outlet_id": "x"}],
    ids=["take", "order", "format", "cursor", "outlet_id"],
)
def test_every_list_answers_bad_parameters_with_a_json_400(staff_client, path, params):
    response = staff_client.get(path, params)
    assert response.status_code == 400, (path, response.content)
    assert response.json()["success"] is False and response.json()["message"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/agents/", {"is_active": "maybe"}), (BALANCES, {"low": "perhaps"}), (BALANCES, {"agent_id": "7"}),
        (GRANTS, {"pool": "perhaps"}), (GRANTS, {"status": "gone"}), (GRANTS, {"source": "gift"}), (GRANTS, {"agent_id": "7"}),
    ],
)
def test_filter_values_of_the_wrong_type_are_a_json_400(staff_client, path, params):
    response = staff_client.get(path, params)
    assert response.status_code == 400 and list(params)[0] in response.json()["errors"]


def test_an_add_past_the_ledgers_limit_is_a_400_naming_the_limit_and_changes_nothing(agent, key_client):
    client = key_client("credits:write")
    assert post_operation(client, agent_id=str(agent.pk), mode="add", amount="99999999999999", reason="big").status_code == 200
    response = post_operation(client, agent_id=str(agent.pk), mode="add", amount="99999999999999", reason="bigger")
    assert response.status_code == 400
    assert "14 digits before the decimal point" in response.json()["errors"]["amount"][0]
    assert CreditAccount.objects.get(pk=agent.pk).balance == Decimal("99999999999999")


# Grants, the pool and the new terms of credits/set.


def test_an_add_with_terms_opens_that_grant_and_answers_it(agent, key_client):
    response = post_operation(
        key_client("credits:write"), agent_id=str(agent.pk), mode="add", amount="30", reason="30-day promotion",
        source="PROMOTION", priority=10, expires_at=IN_A_WEEK.astimezone(ZoneInfo("Asia/Kolkata")).isoformat(),
    )
    assert response.status_code == 200, response.content
    grant = response.json()["grant"]
    stored = CreditGrant.objects.get()
    assert grant | {"effective_at": None, "created_at": None} == {
        "id": stored.pk, "agent_id": str(agent.pk), "pool": False, "outlet_id": str(agent.outlet_id), "source": "promotion",
        "amount": "30.000000", "remaining": "30.000000", "priority": 10, "effective_at": None,
        "expires_at": IN_A_WEEK.strftime("%Y-%m-%dT%H:%M:%SZ"), "status": "active", "reason": "30-day promotion",
        "actor": response.json()["entry"]["actor"], "metadata": {}, "created_at": None,
    }
    assert (stored.source, stored.priority, stored.expires_at) == ("promotion", 10, IN_A_WEEK)


def test_a_plain_add_opens_a_purchase_grant_and_a_set_answers_the_grant_it_opened_or_null(agent, key_client):
    client = key_client("credits:write")
    added = post_operation(client, agent_id=str(agent.pk), mode="add", amount="5", reason="r").json()["grant"]
    assert (added["source"], added["priority"], added["expires_at"]) == ("purchase", 100, None)
    raised = post_operation(client, agent_id=str(agent.pk), mode="set", amount="8", reason="r").json()["grant"]
    assert (raised["source"], raised["amount"]) == ("adjustment", "3.000000")
    assert post_operation(client, agent_id=str(agent.pk), mode="set", amount="1", reason="r").json()["grant"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "set", "amount": "5", "expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
        ({"mode": "set", "amount": "5", "priority": 3}, "priority"),
        ({"mode": "clear", "source": "promotion"}, "source"),
        ({"mode": "add", "amount": "5", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"mode": "add", "amount": "5", "expires_at": "2999-01-01T00:00:00"}, "expires_at"),
        ({"mode": "add", "amount": "5", "priority": -1}, "priority"),
        ({"mode": "add", "amount": "5", "priority": 2**31}, "priority"),
        ({"mode": "add", "amount": "5", "priority": "high"}, "priority"),
        ({"mode": "add", "amount": "5", "source": "allocation"}, "source"),
        ({"mode": "add", "amount": "NaN"}, "amount"),
    ],
)
def test_bad_grant_terms_on_credits_set_are_a_400_naming_the_field_and_write_nothing(agent, key_client, body, field):
    response = post_operation(key_client("credits:write"), agent_id=str(agent.pk), reason="r", **body)
    assert_json_error(response, 400, field, "invalid_parameter")
    assert not CreditLedgerEntry.objects.exists() and not CreditGrant.objects.exists()


def test_the_same_key_with_other_grant_terms_is_a_409(agent, key_client):
    client = key_client("credits:write")
    body = {"agent_id": str(agent.pk), "mode": "add", "amount": "5", "reason": "r", "priority": 5}
    assert post_operation(client, {"Idempotency-Key": "k-1"}, **body).status_code == 200
    again = post_operation(client, {"Idempotency-Key": "k-1"}, **body)
    assert again.json()["replayed"] is True and again.json()["grant"]["priority"] == 5
    assert_json_error(post_operation(client, {"Idempotency-Key": "k-1"}, **(body | {"priority": 6})), 409, code="idempotency_conflict")
    assert CreditGrant.objects.count() == 1


def test_balances_show_available_debt_and_the_next_expiry(outlet, key_client, clock):
    rich, indebted = AgentFactory(outlet=outlet), AgentFactory(outlet=outlet)
    add(rich, "10")
    add(rich, "4", expires_at=clock.now + timedelta(days=2))
    add(rich, "2", expires_at=clock.now + timedelta(minutes=1))
    services.credits_consume(debits={indebted.pk: Decimal("3")}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage")
    clock.advance(minutes=1)  # the 2 are past their expiry, not yet written off
    items = {item["agent_id"]: item for item in key_client("read").get(BALANCES).json()["items"]}
    assert (items[str(rich.pk)]["balance"], items[str(rich.pk)]["available"], items[str(rich.pk)]["debt"]) == (
        "16.000000", "14.000000", "0.000000",
    )
    assert items[str(rich.pk)]["next_expiry"] == {
        "at": (clock.now + timedelta(days=2, minutes=-1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "amount": "4.000000",
    }
    indebted_row = items[str(indebted.pk)]
    assert (indebted_row["balance"], indebted_row["available"], indebted_row["debt"], indebted_row["next_expiry"]) == (
        "-3.000000", "-3.000000", "3.000000", None,
    )


def test_the_ledger_filters_the_new_kinds(agent, key_client, clock):
    add_to_pool(agent.outlet, "50")
    pool.pool_allocate(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="r")
    grant = add(agent, "3", expires_at=clock.now + timedelta(minutes=1))
    writeoffs.grant_void(grant_id=add(agent, "2").pk, outlet_id=None, actor=ACTOR, reason="r")
    clock.advance(minutes=1)
    writeoffs.grants_expire_due()
    client = key_client("read")
    for kind, count in [("allocate", 2), ("void", 1), ("expire", 1), ("reclaim", 0)]:
        items = client.get(LEDGER, {"kind": kind}).json()["items"]
        assert len(items) == count and {item["kind"] for item in items} <= {kind.upper()}, kind
    assert client.get(LEDGER, {"kind": "expire"}).json()["items"][0]["amount"] == f"-{grant.amount:.6f}"


def test_an_unknown_body_field_is_a_400_naming_it_and_posts_nothing(agent, key_client):
    client = key_client("credits:write")
    response = post_operation(client, agent_id=str(agent.pk), mode="add", amount="5", reason="r", expires="2999-01-01")
    body = assert_json_error(response, 400, field="expires", code="invalid_parameter")
    assert body["errors"]["expires"] == ["Unknown field."]
    assert not CreditLedgerEntry.objects.exists()
