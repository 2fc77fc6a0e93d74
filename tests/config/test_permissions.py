"""Who may call every API operation: staff by the admin's Django permissions, API keys by scope.

The operations come from the URL conf, so a new endpoint fails `test_every_operation_is_in_the_table`
until its row below says which permissions and which scope it needs.
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from credits.models import CreditLedgerEntry
from tests.factories import StaffFactory, create_api_key

API_PREFIX = "api/v1/"
HANDLED_METHODS = ("get", "post", "put", "patch", "delete")
SCOPES = ("read", "ingest", "credits:write")
# Values for the routes' path converters: an absent row, so that an allowed caller gets a 404, never a 403.
PATH_VALUES = {
    "<int:pk>": "999999", "<str:pk>": "7c3a1b5e-0000-4000-8000-000000000000", "<path:interaction_id>": "no-such-interaction"
}


@dataclass(frozen=True)
class Rule:
    permissions: tuple[str, ...] | None  # what staff need; None: no staff session, superusers included
    scope: str | None  # what a key needs; "" any key, None no key


VIEW = {
    name: ("credits.view_" + name,) for name in ("outlet", "agent", "creditaccount", "creditledgerentry")
}
RECORDS = ("usage.view_usagerecord",)
RECORDS_AND_INTERACTIONS = ("usage.view_usagerecord", "usage.view_interaction")
REQUESTS = ("analytics.view_requestlog",)
CHANGE_HOLDS = ("credits.change_credithold",)
OPERATIONS = {
    ("auth-token", "post"): Rule(None, ""),
    ("outlet-list", "get"): Rule(VIEW["outlet"], "read"),
    ("agent-list", "get"): Rule(VIEW["agent"], "read"),
    ("agent-detail", "patch"): Rule(("credits.change_agent",), "credits:write"),
    ("credit-balances", "get"): Rule(VIEW["creditaccount"], "read"),
    ("credit-ledger", "get"): Rule(VIEW["creditledgerentry"], "read"),
    ("credit-set", "post"): Rule(("credits.change_creditaccount",), "credits:write"),
    ("credit-grants", "get"): Rule(("credits.view_creditgrant",), "read"),
    ("credit-grants", "post"): Rule(("credits.change_creditaccount",), "credits:write"),
    ("credit-grant-void", "post"): Rule(("credits.change_creditaccount",), "credits:write"),
    ("credit-pool", "get"): Rule(("credits.view_creditaccount", "credits.view_creditgrant"), "read"),
    ("credit-allocate", "post"): Rule(("credits.change_creditaccount",), "credits:write"),
    ("credit-reclaim", "post"): Rule(("credits.change_creditaccount",), "credits:write"),
    ("credit-history", "get"): Rule(VIEW["creditledgerentry"], "read"),
    ("credit-check", "get"): Rule(VIEW["creditaccount"], "read"),
    ("credit-holds", "get"): Rule(("credits.view_credithold",), "read"),
    ("credit-holds", "post"): Rule(CHANGE_HOLDS, "credits:write"),
    ("credit-hold-extend", "post"): Rule(CHANGE_HOLDS, "credits:write"),
    ("credit-hold-release", "post"): Rule(CHANGE_HOLDS, "credits:write"),
    ("price-list", "get"): Rule(("credits.view_price",), "read"),
    ("price-list", "post"): Rule(("credits.add_price",), "credits:write"),
    ("usage-records", "get"): Rule(RECORDS, "read"),
    ("usage-records", "post"): Rule(("usage.add_usagerecord",), "ingest"),
    ("usage-record-detail", "get"): Rule(RECORDS, "read"),
    ("interactions", "get"): Rule(("usage.view_interaction",), "read"),
    ("interactions", "post"): Rule(("usage.add_interaction", "usage.change_interaction"), "ingest"),
    ("interaction-detail", "get"): Rule(("usage.view_interaction", "usage.view_usagerecord"), "read"),
    ("usage-series", "get"): Rule(RECORDS_AND_INTERACTIONS, "read"),
    ("usage-snapshot", "get"): Rule(RECORDS_AND_INTERACTIONS, "read"),
    ("usage-summary", "get"): Rule(RECORDS, "read"),
    ("analytics-models", "get"): Rule(RECORDS, "read"),
    ("analytics-spend", "get"): Rule(RECORDS_AND_INTERACTIONS, "read"),
    ("analytics-usage", "get"): Rule(RECORDS, "read"),
    ("analytics-requests", "get"): Rule(REQUESTS, "read"),
    ("request-log", "get"): Rule(REQUESTS, "read"),
}


def api_routes(patterns=None, prefix: str = "") -> dict[str, tuple[str, type]]:
    """Every URL name under /api/v1/ with its path (converters filled in) and its view class."""
    routes = {}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.update(api_routes(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern) and route.startswith(API_PREFIX) and pattern.name:
            path = route
            for converter, value in PATH_VALUES.items():
                path = path.replace(converter, value)
            assert "<" not in path, f"add a value for {route}'s converter to PATH_VALUES"
            routes[pattern.name] = ("/" + path, pattern.callback.view_class)
    return routes


ROUTES = api_routes()
OPERATIONS_IN_URLCONF = sorted(
    (name, method) for name, (_, view) in ROUTES.items() for method in HANDLED_METHODS if hasattr(view, method)
)
UNANSWERED = sorted(
    (name, method) for name, (_, view) in ROUTES.items() for method in HANDLED_METHODS if not hasattr(view, method)
)


def call(client: APIClient, name: str, method: str):
    path = ROUTES[name][0]
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, {}, format="json")


def staff_with(*permissions: str, superuser: bool = False) -> APIClient:
    user = StaffFactory(is_superuser=superuser)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = APIClient()
    client.force_login(user)
    return client


def is_refused(response) -> bool:
    assert response.status_code != 500, response.content
    return response.status_code in (401, 403)


def test_every_operation_is_in_the_table():
    assert OPERATIONS_IN_URLCONF == sorted(OPERATIONS)


def test_every_operation_names_its_staff_permissions_on_the_view():
    for (name, method), rule in OPERATIONS.items():
        view = ROUTES[name][1]
        declared = getattr(view, "read_permissions" if method == "get" else "write_permissions", None)
        if rule.permissions is not None:
            assert declared == rule.permissions, (name, method)


@pytest.mark.parametrize("name, method", OPERATIONS_IN_URLCONF)
def test_staff_without_permissions_are_refused(db, name, method):
    response = call(staff_with(), name, method)
    assert response.status_code == 403, response.content
    assert response.json()["success"] is False


@pytest.mark.parametrize("name, method", OPERATIONS_IN_URLCONF)
def test_staff_with_the_operations_permissions_pass(db, name, method):
    rule = OPERATIONS[(name, method)]
    assert is_refused(call(staff_with(*rule.permissions or ()), name, method)) is (rule.permissions is None)


@pytest.mark.parametrize("name, method", OPERATIONS_IN_URLCONF)
def test_staff_with_every_view_permission_may_read_but_not_write(db, name, method):
    every_view = Permission.objects.filter(codename__startswith="view_").select_related("content_type")
    client = staff_with(*(f"{permission.content_type.app_label}.{permission.codename}" for permission in every_view))
    allowed = method == "get" and OPERATIONS[(name, method)].permissions is not None
    assert is_refused(call(client, name, method)) is not allowed


@pytest.mark.parametrize("name, method", [operation for operation in OPERATIONS_IN_URLCONF if operation[1] == "get"])
def test_a_change_permission_lets_staff_read_as_in_the_admin(db, name, method):
    changes = tuple(permission.replace(".view_", ".change_") for permission in OPERATIONS[(name, method)].permissions)
    assert not is_refused(call(staff_with(*changes), name, method))


@pytest.mark.parametrize("name, method", OPERATIONS_IN_URLCONF)
def test_superusers_pass_every_operation_open_to_staff(db, name, method):
    rule = OPERATIONS[(name, method)]
    assert is_refused(call(staff_with(superuser=True), name, method)) is (rule.permissions is None)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("name, method", OPERATIONS_IN_URLCONF)
def test_api_keys_pass_with_the_operations_scope_only(outlet, name, method, scope):
    _, raw_key = create_api_key(outlet=outlet, scopes=[scope])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    required = OPERATIONS[(name, method)].scope
    allowed = required is not None and required in ("", scope)
    assert is_refused(call(client, name, method)) is not allowed


def test_staff_without_the_change_permission_cannot_post_credits(agent):
    client = staff_with("credits.view_creditaccount")
    response = client.post(
        f"{ROUTES['credit-set'][0]}?outlet_id={agent.outlet_id}",
        {"agent_id": str(agent.pk), "mode": "add", "amount": "1000", "reason": "not mine to give"},
        format="json",
    )
    assert response.status_code == 403
    assert "credits.change_creditaccount" in response.json()["message"]
    assert not CreditLedgerEntry.objects.exists()


def test_staff_with_the_change_permission_post_credits_as_in_the_admin(agent):
    client = staff_with("credits.change_creditaccount")
    response = client.post(
        ROUTES["credit-set"][0],
        {"agent_id": str(agent.pk), "mode": "add", "amount": "1000", "reason": "top-up"},
        format="json",
    )
    assert response.status_code == 200, response.content
    agent.account.refresh_from_db()
    assert agent.account.balance == Decimal("1000")
    assert CreditLedgerEntry.objects.get().kind == "ADD"


@pytest.mark.parametrize("name, method", UNANSWERED)
@pytest.mark.parametrize("caller", ["staff without permissions", "key with every scope"])
def test_a_method_the_endpoint_does_not_answer_is_a_json_405_with_allow(outlet, name, method, caller):
    if caller == "staff without permissions":
        client = staff_with()
    else:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {create_api_key(outlet=outlet, scopes=['read'])[1]}")
    response = call(client, name, method)
    assert response.status_code == 405, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["success"] is False
    view = ROUTES[name][1]
    assert set(response["Allow"].split(", ")) >= {m.upper() for m in HANDLED_METHODS if hasattr(view, m)}


@pytest.mark.parametrize("name, method", UNANSWERED)
def test_a_method_the_endpoint_does_not_answer_without_credentials_is_401_first(db, name, method):
    assert call(APIClient(), name, method).status_code == 401


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_options_describes_every_endpoint_to_staff_whatever_their_permissions(db, name):
    response = call(staff_with(), name, "options")
    assert response.status_code == 200, response.content
    assert response["Allow"]
