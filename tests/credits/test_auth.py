from datetime import timedelta
from decimal import Decimal

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from credits import services
from credits.auth import _key_of, authenticate_api_key
from credits.models import ApiKey, CreditLedgerEntry
from tests.factories import AgentFactory, OutletFactory, UserFactory, create_api_key

BALANCES = "/api/v1/credits/balances/"
CREDITS_SET = "/api/v1/credits/set/"
TOKEN = "/api/v1/auth/token/"


def bearer(credential: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


def mint_token(client: APIClient) -> str:
    response = client.post(TOKEN)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["message"]
    return body


def forge(claims: dict, key: str = settings.SIMPLE_JWT["SIGNING_KEY"], algorithm: str = "HS256") -> str:
    now = timezone.now()
    payload = {
        "token_type": "access", "exp": now + timedelta(minutes=5), "iat": now, "jti": "x",
        "aud": "ledgerline-api", "iss": "ledgerline", **claims,
    }
    return jwt.encode(payload, key, algorithm=algorithm)


def test_no_credentials_is_401_with_a_bearer_challenge(db):
    body = assert_json_error(APIClient().get(BALANCES), 401)
    assert "credentials" in body["message"].lower()


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearer nope.nope"])
def test_malformed_or_unknown_credentials_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_json_error(client.get(BALANCES), 401)


def test_wrong_secret_for_a_real_prefix_is_401(outlet):
    key, raw = create_api_key(outlet=outlet)
    assert_json_error(bearer(f"{key.prefix}.not-the-secret").get(BALANCES), 401)


def test_revoked_key_is_401(outlet):
    key, raw = create_api_key(outlet=outlet)
    services.api_key_revoke(api_keys=[key])
    body = assert_json_error(bearer(raw).get(BALANCES), 401)
    assert "revoked" in body["message"]


def test_expired_key_is_401(outlet):
    _, raw = create_api_key(outlet=outlet, expiry_date=timezone.now() - timedelta(seconds=1))
    assert "expired" in assert_json_error(bearer(raw).get(BALANCES), 401)["message"]


def test_key_of_an_inactive_outlet_is_401(outlet):
    _, raw = create_api_key(outlet=outlet)
    outlet.is_active = False
    outlet.save()
    assert_json_error(bearer(raw).get(BALANCES), 401)


def test_valid_key_reads_and_records_last_use(outlet):
    key, raw = create_api_key(outlet=outlet)
    assert bearer(raw).get(BALANCES).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_key_is_stored_hashed(outlet):
    key, raw = create_api_key(outlet=outlet)
    secret = raw.partition(".")[2]
    assert secret not in key.hashed_key and secret not in key.pk


def test_token_exchange_gives_a_jwt_that_authenticates_for_the_same_outlet(outlet):
    _, raw = create_api_key(outlet=outlet, scopes=["read"])
    token = mint_token(bearer(raw))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "ledgerline-api" and claims["iss"] == "ledgerline"
    assert claims["outlet_id"] == str(outlet.pk)
    response = bearer(token).get("/api/v1/outlets/")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [str(outlet.pk)]


def test_a_token_cannot_mint_another_token(outlet):
    _, raw = create_api_key(outlet=outlet)
    assert_json_error(bearer(mint_token(bearer(raw))).post(TOKEN), 403)


def test_staff_session_cannot_mint_a_token(staff_client):
    assert_json_error(staff_client.post(TOKEN), 403)


def test_expired_token_is_401(outlet):
    key, _ = create_api_key(outlet=outlet)
    token = forge({"sub": key.prefix, "outlet_id": str(outlet.pk), "exp": timezone.now() - timedelta(seconds=1)})
    assert "expired" in assert_json_error(bearer(token).get(BALANCES), 401)["message"].lower()


def test_tampered_token_is_401(outlet):
    _, raw = create_api_key(outlet=outlet)
    header, payload, signature = mint_token(bearer(raw)).split(".")
    other = OutletFactory()
    forged_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps({"sub": "x", "outlet_id": str(other.pk)}).encode()
    ).decode()
    assert_json_error(bearer(f"{header}.{forged_payload}.{signature}").get(BALANCES), 401)


@pytest.mark.parametrize(
    ("claims", "key", "algorithm"),
    [
        ({"aud": "someone-else"}, None, "HS256"),
        ({"iss": "someone-else"}, None, "HS256"),
        ({}, "not-the-signing-key", "HS256"),
        ({}, None, "HS512"),
    ],
    ids=["wrong-audience", "wrong-issuer", "wrong-key", "other-algorithm"],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_with_wrong_audience_issuer_key_or_algorithm_is_401(outlet, claims, key, algorithm):
    api_key, _ = create_api_key(outlet=outlet)
    token = forge(
        {"sub": api_key.prefix, "outlet_id": str(outlet.pk), **claims},
        key=key or settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithm=algorithm,
    )
    assert_json_error(bearer(token).get(BALANCES), 401)


def test_unsigned_token_is_401(outlet):
    api_key, _ = create_api_key(outlet=outlet)
    token = jwt.encode({"sub": api_key.prefix, "outlet_id": str(outlet.pk)}, None, algorithm="none")
    assert_json_error(bearer(token).get(BALANCES), 401)


def test_token_of_a_revoked_key_is_401(outlet):
    key, raw = create_api_key(outlet=outlet)
    token = mint_token(bearer(raw))
    services.api_key_revoke(api_keys=[key])
    assert_json_error(bearer(token).get(BALANCES), 401)


def test_read_key_cannot_write_credits(agent, key_client):
    body = assert_json_error(
        key_client("read").post(CREDITS_SET, {"agent_id": str(agent.pk), "mode": "add", "amount": "5", "reason": "x"}, format="json"),
        403,
    )
    assert "credits:write" in body["message"]
    assert not CreditLedgerEntry.objects.exists()


def test_key_without_read_scope_cannot_read(outlet, key_client):
    assert_json_error(key_client("ingest").get(BALANCES), 403)


def test_non_staff_session_user_is_unauthenticated(db):
    client = APIClient()
    client.force_login(UserFactory())
    assert_json_error(client.get(BALANCES), 401)


def test_outlet_key_gets_404_for_another_outlets_agent(agent, key_client):
    other_outlet_client = key_client("read", "credits:write", for_outlet=OutletFactory())
    assert_json_error(
        other_outlet_client.post(CREDITS_SET, {"agent_id": str(agent.pk), "mode": "add", "amount": "5", "reason": "x"}, format="json"),
        404,
    )
    assert not CreditLedgerEntry.objects.exists()


def test_outlet_key_never_lists_another_outlets_data(agent, key_client):
    stranger = AgentFactory()
    services.credits_add(agent=stranger, amount=Decimal("3"), actor=services.Actor.system("t"), reason="x")
    client = key_client("read")
    for path in ["/api/v1/outlets/", "/api/v1/agents/", BALANCES, "/api/v1/credits/ledger/"]:
        content = client.get(path).content.decode()
        assert str(stranger.pk) not in content and str(stranger.outlet_id) not in content, path


def test_outlet_key_cannot_widen_its_scope_with_outlet_id(agent, key_client):
    stranger = AgentFactory()
    response = key_client("read").get(BALANCES, {"outlet_id": str(stranger.outlet_id)})
    assert response.status_code == 400 and list(response.json()["errors"]) == ["outlet_id"]  # staff's parameter only
    assert [item["agent_id"] for item in key_client("read").get(BALANCES).json()["items"]] == [str(agent.pk)]


def test_staff_sees_every_outlet_and_may_narrow_to_one(staff_client, agent):
    stranger = AgentFactory()
    everything = staff_client.get(BALANCES).json()["items"]
    assert {item["agent_id"] for item in everything} == {str(agent.pk), str(stranger.pk)}
    narrowed = staff_client.get(BALANCES, {"outlet_id": str(stranger.outlet_id)}).json()["items"]
    assert [item["agent_id"] for item in narrowed] == [str(stranger.pk)]


def test_staff_outlet_id_must_be_a_known_outlet(staff_client):
    assert_json_error(staff_client.get(BALANCES, {"outlet_id": "not-a-uuid"}), 400)
    assert_json_error(staff_client.get(BALANCES, {"outlet_id": "7c3a1b5e-0000-4000-8000-000000000000"}), 404)


def test_api_key_scopes_are_validated_on_the_model(outlet):
    key = ApiKey(outlet=outlet, name="x", scopes=["read", "root"])
    with pytest.raises(Exception, match="root"):
        key.clean()


def test_a_key_and_its_outlet_are_read_in_one_unsorted_query(db, django_assert_num_queries):
    outlet = OutletFactory()
    key, raw_key = create_api_key(outlet=outlet, scopes=["read"])
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())  # no last_used_at write this time
    with django_assert_num_queries(1) as queries:
        found = authenticate_api_key(raw_key)
    assert found.pk == key.pk and found.outlet.timezone == outlet.timezone
    assert "ORDER BY" not in queries.captured_queries[0]["sql"]  # the prefix is unique: a sort is work for nothing


def test_a_key_is_read_with_its_outlet_as_the_orm_reads_them(db, django_assert_num_queries):
    outlet = OutletFactory(overdraft_limit=Decimal("12.500000"), billing_contacts="ops@example.com", timezone="Asia/Kolkata")
    key, _ = create_api_key(outlet=outlet, scopes=["read", "write"])
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now(), expiry_date=timezone.now() + timedelta(days=3))
    expected = ApiKey.objects.select_related("outlet").get(pk=key.pk)
    with django_assert_num_queries(1):
        found = _key_of(key.prefix)
        found_outlet = found.outlet  # read with the key, not a second query
    for instance, wanted in ((found, expected), (found_outlet, expected.outlet)):
        for model_field in type(wanted)._meta.concrete_fields:
            value, wanted_value = getattr(instance, model_field.attname), getattr(wanted, model_field.attname)
            assert (value, type(value)) == (wanted_value, type(wanted_value)), model_field.name
        assert (instance._state.adding, instance._state.db) == (False, "default")


def test_an_unknown_prefix_reads_no_key(db):
    assert _key_of("nosuchkey") is None
