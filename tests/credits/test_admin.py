import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from config.admin import zoned_text
from credits import pool, selectors, services
from credits.grants import GrantTerms
from credits.models import ApiKey, CreditAccount, CreditAlert, CreditGrant, CreditLedgerEntry
from tests.clock import Clock
from tests.factories import AgentFactory, OutletFactory, StaffFactory, create_api_key

Kind = CreditLedgerEntry.Kind
ACTOR = services.Actor.system("tests")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def fund(agent, amount) -> None:
    services.credits_add(agent=agent, amount=Decimal(amount), actor=ACTOR, reason="opening balance")


def balance(agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def balance_url(agent, operation: str) -> str:
    return reverse("admin:credits_creditaccount_balance", args=[agent.pk, operation])


def account_url(agent) -> str:
    return reverse("admin:credits_creditaccount_change", args=[agent.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def hidden_inputs(response) -> dict[str, list[str]]:
    """What the browser sends back from a page: every hidden input of its form."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", response.content.decode()):
        if 'type="hidden"' in tag and (name := re.search(r'name="([^"]*)"', tag)):
            value = re.search(r'value="([^"]*)"', tag)
            fields.setdefault(unescape(name.group(1)), []).append(unescape(value.group(1)) if value else "")
    return fields


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


# Balance buttons: form, confirmation, one entry.


@pytest.mark.parametrize(
    ("operation", "data", "kind", "amount", "after"),
    [
        ("add", {"amount": "5.5"}, Kind.ADD, "5.5", "15.50"),
        ("set", {"amount": "3"}, Kind.SET, "-7", "3.00"),
        ("clear", {}, Kind.CLEAR, "-10", "0.00"),
    ],
)
def test_balance_button_confirms_then_writes_one_entry(staff, staff_user, agent, operation, data, kind, amount, after):
    fund(agent, "10")
    page = staff.get(account_url(agent))
    assert balance_url(agent, operation) in page.content.decode()

    assert staff.get(balance_url(agent, operation)).status_code == 200
    confirmation = staff.post(balance_url(agent, operation), {**data, "reason": "monthly top-up"})

    assert "admin/credits/confirm.html" in [t.name for t in confirmation.templates]
    assert (confirmation.context["balance_before"], confirmation.context["balance_after"]) == ("10.00", after)
    assert "<td>10.00</td>" in confirmation.content.decode()
    assert f"<td><strong>{after}</strong></td>" in confirmation.content.decode()
    assert CreditLedgerEntry.objects.count() == 1  # only the opening balance

    response = staff.post(balance_url(agent, operation), hidden_inputs(confirmation))

    assert response.status_code == 302 and response.url == account_url(agent)
    entry = CreditLedgerEntry.objects.exclude(reason="opening balance").get()
    assert (entry.kind, entry.amount, entry.balance_after) == (kind, Decimal(amount), Decimal(after))
    assert (entry.actor_user, entry.reason) == (staff_user, "monthly top-up")
    assert entry.idempotency_key.startswith("admin-")
    assert balance(agent) == Decimal(after)
    assert messages_of(response) == [f"{confirmation.context['label']} for {agent}: 10.00 -> {after}."]


def test_submitting_the_same_confirmation_twice_applies_once(staff, agent):
    confirmation = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "top-up"})
    data = hidden_inputs(confirmation)

    staff.post(balance_url(agent, "add"), data)
    again = staff.post(balance_url(agent, "add"), data)

    assert again.status_code == 302
    assert CreditLedgerEntry.objects.count() == 1
    assert balance(agent) == Decimal("5")
    assert "Already applied" in messages_of(again)[-1]


def test_each_confirmation_page_gets_its_own_key(staff, agent):
    first = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "top-up"})
    second = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "top-up"})

    staff.post(balance_url(agent, "add"), hidden_inputs(first))
    staff.post(balance_url(agent, "add"), hidden_inputs(second))

    assert CreditLedgerEntry.objects.count() == 2
    assert balance(agent) == Decimal("10")


@pytest.mark.parametrize(
    ("operation", "data", "field"),
    [
        ("add", {"amount": "-5", "reason": "r"}, "amount"),
        ("add", {"amount": "0", "reason": "r"}, "amount"),
        ("add", {"amount": "abc", "reason": "r"}, "amount"),
        ("add", {"amount": "1.1234567", "reason": "r"}, "amount"),
        ("add", {"amount": "5", "reason": ""}, "reason"),
        ("add", {"amount": "5", "reason": "   "}, "reason"),
        ("set", {"reason": "r"}, "amount"),
        ("set", {"amount": "-1", "reason": "r"}, "amount"),
        ("clear", {"reason": ""}, "reason"),
    ],
)
def test_bad_input_gives_a_form_error_and_writes_nothing(staff, agent, operation, data, field):
    fund(agent, "10")

    response = staff.post(balance_url(agent, operation), data)

    assert response.status_code == 200
    assert field in form_errors(response)
    assert "balance_after" not in response.context
    assert CreditLedgerEntry.objects.count() == 1
    assert balance(agent) == Decimal("10")


def test_bad_amount_smuggled_into_a_confirmation_writes_nothing(staff, agent):
    confirmation = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "top-up"})

    response = staff.post(balance_url(agent, "add"), {**hidden_inputs(confirmation), "amount": "-5"})

    assert "amount" in form_errors(response)
    assert not CreditLedgerEntry.objects.exists()


def test_service_error_at_confirmation_is_shown_on_the_form(staff, agent):
    confirmation = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "top-up"})
    staff.post(balance_url(agent, "add"), hidden_inputs(confirmation))

    # The same key for a different change: the service refuses it as a conflict.
    response = staff.post(balance_url(agent, "add"), {**hidden_inputs(confirmation), "amount": "6"})

    assert response.status_code == 200
    assert "idempotency_key" not in hidden_inputs(response)
    assert "Reuse a key only to retry the very same request." in response.context["adminform"].form.non_field_errors()
    assert CreditLedgerEntry.objects.count() == 1


def test_staff_without_change_permission_get_no_buttons(client, agent):
    viewer = StaffFactory(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_creditaccount"))
    client.force_login(viewer)

    page = client.get(account_url(agent))
    response = client.post(balance_url(agent, "add"), {"amount": "5", "reason": "r"})

    assert page.status_code == 200
    assert balance_url(agent, "add") not in page.content.decode()
    assert response.status_code == 403
    assert not CreditLedgerEntry.objects.exists()


def test_account_cannot_be_added_edited_or_deleted(staff, agent):
    fund(agent, "10")
    change = staff.post(account_url(agent), {"balance": "999"})
    delete = staff.post(reverse("admin:credits_creditaccount_delete", args=[agent.pk]), {"post": "yes"})

    assert staff.get(reverse("admin:credits_creditaccount_add")).status_code == 403
    assert change.status_code == 403 and delete.status_code == 403
    assert balance(agent) == Decimal("10")


def test_account_page_shows_recent_entries_and_links_to_its_ledger(staff, agent):
    other = AgentFactory(outlet=agent.outlet)
    fund(other, "1")
    for n in range(30):
        fund(agent, n + 1)

    page = staff.get(account_url(agent))
    entries = list(page.context["recent_entries"])
    ledger = staff.get(page.context["ledger_url"])

    assert len(entries) == 25 and entries[0].amount == Decimal("30")
    assert page.context["ledger_url"] in unescape(page.content.decode())
    assert ledger.status_code == 200
    assert ledger.context["cl"].result_count == 30


# Bulk clear action.


def test_clear_balances_action_confirms_with_a_reason_then_clears_each(staff, outlet):
    agents = AgentFactory.create_batch(3, outlet=outlet)
    untouched = AgentFactory(outlet=outlet)
    for agent in [*agents, untouched]:
        fund(agent, "7")
    changelist = reverse("admin:credits_creditaccount_changelist")
    selected = {"action": "clear_balances", "_selected_action": [agent.pk for agent in agents]}

    confirmation = staff.post(changelist, {**selected, "index": 0})
    assert confirmation.status_code == 200
    assert not form_errors(confirmation)
    assert all(agent.name in confirmation.content.decode() for agent in agents)
    assert "7.00" in confirmation.content.decode()
    assert not CreditLedgerEntry.objects.filter(kind=Kind.CLEAR).exists()

    response = staff.post(changelist, {**hidden_inputs(confirmation), "reason": "end of trial"})

    assert response.status_code == 302
    clears = CreditLedgerEntry.objects.filter(kind=Kind.CLEAR)
    assert sorted(entry.account_id for entry in clears) == sorted(agent.pk for agent in agents)
    assert {entry.reason for entry in clears} == {"end of trial"}
    assert [balance(agent) for agent in agents] == [Decimal(0)] * 3
    assert balance(untouched) == Decimal("7")
    assert messages_of(response) == ["Cleared 3 balance(s)."]


def test_clear_balances_action_refuses_without_a_reason(staff, agent):
    fund(agent, "7")
    changelist = reverse("admin:credits_creditaccount_changelist")
    confirmation = staff.post(changelist, {"action": "clear_balances", "_selected_action": [agent.pk], "index": 0})

    response = staff.post(changelist, {**hidden_inputs(confirmation), "reason": ""})

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    assert not CreditLedgerEntry.objects.filter(kind=Kind.CLEAR).exists()
    assert balance(agent) == Decimal("7")


# Ledger: read-only for everyone.


def test_ledger_entries_cannot_be_added_changed_or_deleted_even_by_a_superuser(staff, agent):
    fund(agent, "10")
    entry = CreditLedgerEntry.objects.get()
    change_url = reverse("admin:credits_creditledgerentry_change", args=[entry.pk])

    view = staff.get(change_url)
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert staff.get(reverse("admin:credits_creditledgerentry_add")).status_code == 403
    assert staff.post(change_url, {"reason": "edited", "amount": "99"}).status_code == 403
    delete_url = reverse("admin:credits_creditledgerentry_delete", args=[entry.pk])
    assert staff.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = staff.get(reverse("admin:credits_creditledgerentry_changelist"))
    assert "delete_selected" not in changelist.content.decode()
    entry.refresh_from_db()
    assert (entry.reason, entry.amount) == ("opening balance", Decimal("10"))


# API keys.


def test_api_key_admin_shows_the_raw_key_once_and_stores_it_hashed(staff, outlet):
    add_url = reverse("admin:credits_apikey_add")
    assert staff.get(f"{add_url}?outlet={outlet.pk}").context["adminform"].form["outlet"].value() == str(outlet.pk)

    response = staff.post(
        add_url,
        {"outlet": outlet.pk, "name": "BI tool", "scopes": ["read", "ingest"],
         "expiry_date_0": "2099-01-31", "expiry_date_1": "12:00:00"},
    )

    assert response.status_code == 302
    key = ApiKey.objects.get()
    (message,) = get_messages(response.wsgi_request)
    raw_key = re.search(rf"{re.escape(key.prefix)}\.\S+", str(message)).group()
    assert message.level_tag == "warning"
    assert key.is_valid(raw_key) and raw_key not in key.hashed_key
    assert (key.outlet, key.name, key.scopes) == (outlet, "BI tool", ["read", "ingest"])
    assert key.expiry_date == datetime(2099, 1, 31, 12, tzinfo=UTC)
    assert raw_key in staff.get(response.url).content.decode()
    assert raw_key not in staff.get(response.url).content.decode()


def test_api_key_service_error_becomes_a_form_error(staff, outlet):
    response = staff.post(reverse("admin:credits_apikey_add"), {"outlet": outlet.pk, "name": "no scopes"})

    assert response.status_code == 200
    assert form_errors(response)["scopes"] == ["At least one scope is required."]
    assert not ApiKey.objects.exists()


def test_revoke_action_revokes_the_selected_keys_and_keys_are_not_deleted(staff, outlet):
    key, raw_key = create_api_key(outlet=outlet)
    kept, _ = create_api_key(outlet=outlet)
    changelist = reverse("admin:credits_apikey_changelist")

    response = staff.post(changelist, {"action": "revoke_keys", "_selected_action": [key.pk], "index": 0})

    assert response.status_code == 302
    assert messages_of(response) == ["Revoked 1 API key(s)."]
    key.refresh_from_db()
    kept.refresh_from_db()
    assert key.revoked and not kept.revoked
    assert not ApiKey.objects.is_valid(raw_key)
    assert staff.post(reverse("admin:credits_apikey_delete", args=[kept.pk]), {"post": "yes"}).status_code == 403
    assert ApiKey.objects.count() == 2


def test_api_key_page_is_read_only(staff, outlet):
    key, _ = create_api_key(outlet=outlet, name="platform")
    change_url = reverse("admin:credits_apikey_change", args=[quote(key.pk)])

    page = staff.get(change_url)
    response = staff.post(change_url, {"name": "renamed", "outlet": outlet.pk})

    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.name == "platform"


def test_the_packages_own_api_key_admin_is_gone():
    assert not admin.site.is_registered(APIKey)
    assert admin.site.is_registered(ApiKey)


# Outlets and agents.


def test_outlet_page_shows_its_agents_and_keys(staff, agent):
    fund(agent, "12.5")
    key, _ = create_api_key(outlet=agent.outlet, name="platform")

    page = staff.get(reverse("admin:credits_outlet_change", args=[agent.outlet.pk]))

    content = page.content.decode()
    assert page.status_code == 200
    assert [formset.formset.prefix for formset in page.context["inline_admin_formsets"]] == ["agents", "api_keys"]
    assert agent.external_id in content and ">12.50</a>" in content
    assert key.prefix in content and "platform" in content
    assert f"{reverse('admin:credits_apikey_add')}?outlet={agent.outlet.pk}" in content


def test_outlet_page_adds_an_agent_with_its_account(staff, outlet):
    data = {
        "name": outlet.name, "timezone": "UTC", "currency": "USD", "billing_cycle_day": 1,
        "low_balance_threshold": "10", "is_active": "on",
        "agents-TOTAL_FORMS": 1, "agents-INITIAL_FORMS": 0,
        "agents-0-name": "Receptionist", "agents-0-external_id": "rcp-1", "agents-0-is_active": "on",
        "api_keys-TOTAL_FORMS": 0, "api_keys-INITIAL_FORMS": 0,
    }

    response = staff.post(reverse("admin:credits_outlet_change", args=[outlet.pk]), data)

    assert response.status_code == 302
    agent = outlet.agents.get()
    assert (agent.name, agent.external_id, balance(agent)) == ("Receptionist", "rcp-1", Decimal(0))


def test_agent_stays_in_its_outlet(staff, agent):
    data = {"outlet": OutletFactory().pk, "name": "Renamed", "external_id": agent.external_id, "is_active": "on"}

    response = staff.post(reverse("admin:credits_agent_change", args=[agent.pk]), data)

    assert response.status_code == 302
    agent_after = type(agent).objects.get(pk=agent.pk)
    assert (agent_after.name, agent_after.outlet_id) == ("Renamed", agent.outlet_id)


def test_agents_cannot_be_deleted(staff, agent):
    response = staff.post(reverse("admin:credits_agent_delete", args=[agent.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert CreditAccount.objects.filter(pk=agent.pk).exists()


@pytest.mark.parametrize("model", ["outlet", "agent", "apikey", "creditaccount", "creditledgerentry", "creditgrant"])
def test_every_changelist_renders_for_a_superuser_without_a_query_per_row(
    staff, model, django_assert_max_num_queries
):
    for n in range(5):
        agent = AgentFactory(outlet=OutletFactory())
        fund(agent, "3")
        create_api_key(outlet=agent.outlet, name=f"key {n}")

    with django_assert_max_num_queries(8):
        response = staff.get(reverse(f"admin:credits_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 5


# Amounts as people read them.


def cell_texts(response) -> list[list[str]]:
    """A changelist's cells as text, past the first column (the checkbox, or the linked column without actions)."""
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row[1:]] for row in response.context["results"]]


def test_account_list_shows_balances_with_separators_and_two_places_and_a_low_balance_as_a_warning(staff, outlet):
    rich, poor = AgentFactory(outlet=outlet, name="Rich"), AgentFactory(outlet=outlet, name="Poor")
    fund(rich, "1234567.891234")
    fund(poor, "2.5")

    response = staff.get(reverse("admin:credits_creditaccount_changelist"))

    rows = {row[0]: row[2:5] for row in cell_texts(response)}
    assert rows == {"Rich": ["1,234,567.89", "10.00", "-"], "Poor": ["2.50", "10.00", "low"]}
    content = response.content.decode()
    assert content.count("icon-alert.svg") == 1 and "icon-yes.svg" not in content and "icon-no.svg" not in content


def test_account_page_shows_the_balance_in_full_and_its_title_has_no_six_decimals(staff, agent):
    fund(agent, "1234.567891")

    page = staff.get(account_url(agent))

    fields = {field.field["name"]: field.contents() for fieldset in page.context["adminform"] for line in fieldset
              for field in line}
    assert (fields["balance_in_full"], fields["threshold_in_full"]) == ("1,234.567891", "10.00")
    title = re.search(r"<title>(.*?)</title>", page.content.decode(), re.S).group(1)
    assert f"{agent.name} (1,234.57)" in title and not re.search(r"\.\d{6}", title)


def test_add_credits_pages_show_amounts_as_people_read_them(staff, agent):
    fund(agent, "12345")

    form = staff.get(balance_url(agent, "add"))
    confirmation = staff.post(balance_url(agent, "add"), {"amount": "1000.5", "reason": "top-up"})

    assert "Current balance: 12,345.00" in form.content.decode()
    content = confirmation.content.decode()
    assert "<td>1,000.50</td>" in content and "<td><strong>13,345.50</strong></td>" in content
    title = re.search(r"<title>(.*?)</title>", content, re.S).group(1)
    assert not re.search(r"\.\d{6}", title)


def test_ledger_list_shows_two_places_and_the_entry_page_every_place(staff, agent):
    fund(agent, "1500.123456")
    entry = CreditLedgerEntry.objects.get()

    listing = staff.get(reverse("admin:credits_creditledgerentry_changelist"))
    page = staff.get(reverse("admin:credits_creditledgerentry_change", args=[entry.pk]))

    (row,) = cell_texts(listing)
    assert row[3:5] == ["1,500.12", "1,500.12"]
    assert "1,500.123456" in page.content.decode()
    title = re.search(r"<title>(.*?)</title>", page.content.decode(), re.S).group(1)
    assert "ADD 1,500.12 -&gt; 1,500.12" in title and not re.search(r"\.\d{6}", title)


def test_ledger_list_drills_down_by_the_day_an_entry_took_effect(staff, agent):
    paid_at = datetime(2026, 10, 5, 9, tzinfo=UTC)
    services.credits_add(agent=agent, amount=Decimal("40"), actor=ACTOR, reason="paid in October", effective_at=paid_at)
    fund(agent, "2")
    changelist = reverse("admin:credits_creditledgerentry_changelist")

    october = staff.get(changelist, {"effective_at__year": "2026", "effective_at__month": "10"})
    everything = staff.get(changelist)

    assert [row[-1] for row in cell_texts(october)] == ["paid in October"]
    assert [row[-1] for row in cell_texts(everything)] == ["opening balance", "paid in October"]  # newest effect first
    assert "October 2026" in everything.content.decode()  # the date hierarchy offers the month it took effect


# Times in the outlet's zone, named.

NEW_YORK = ZoneInfo("America/New_York")
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham")


def column(response, header: str) -> list[str]:
    """One column of a changelist, as text."""
    headers = [entry["text"] for entry in response.context["result_headers"]]
    return [unescape(re.sub(r"<[^>]+>", "", row[headers.index(header)])).strip() for row in response.context["results"]]


def detail_fields(page) -> dict[str, str]:
    return {field.field["name"]: unescape(re.sub(r"<[^>]+>", "", str(field.contents())))
            for fieldset in page.context["adminform"] for line in fieldset for field in line}


def test_a_new_york_ledger_entry_reads_in_new_york_time_on_either_side_of_the_clock_change(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="America/New_York"))
    for day in (7, 9):  # the clocks went forward on 8 March 2026
        services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason=f"on the {day}th",
                             effective_at=datetime(2026, 3, day, 12, tzinfo=UTC))
    newest = CreditLedgerEntry.objects.order_by("-effective_at").first()
    ledger = reverse("admin:credits_creditledgerentry_changelist")

    listing = staff.get(ledger)
    page = staff.get(reverse("admin:credits_creditledgerentry_change", args=[newest.pk]))
    account_page = staff.get(account_url(agent)).content.decode()

    shown = ["2026-03-09 08:00:00 EDT (America/New_York)", "2026-03-07 07:00:00 EST (America/New_York)"]
    assert column(listing, "effective at") == shown
    fields = detail_fields(page)
    assert fields["effective_at_in_zone"] == shown[0]
    assert fields["created_at_in_zone"] == zoned_text(newest.created_at, NEW_YORK)
    assert all(time in account_page for time in shown)  # its recent entries


def test_the_account_pages_ledger_link_drills_down_by_the_outlets_local_days(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="America/New_York"))
    services.credits_add(agent=agent, amount=Decimal("1"), actor=ACTOR, reason="late on the 7th, local",
                         effective_at=datetime(2026, 3, 8, 3, tzinfo=UTC))
    ledger_url = staff.get(account_url(agent)).context["ledger_url"]

    ledger = staff.get(ledger_url)
    seventh = staff.get(f"{ledger_url}&effective_at__year=2026&effective_at__month=3&effective_at__day=7")

    assert "Dates in America/New_York, the outlet&#x27;s zone." in ledger.content.decode()
    assert seventh.context["cl"].result_count == 1


def test_alerts_and_grants_read_in_their_outlets_zone_in_the_list_and_on_their_page(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="America/New_York"))
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="promo",
                         terms=GrantTerms(expires_at=datetime(2099, 6, 1, 16, tzinfo=UTC)))
    alert, grant = CreditAlert.objects.get(), CreditGrant.objects.get()  # 5 is below the threshold of 10

    alerts = staff.get(reverse("admin:credits_creditalert_changelist"))
    alert_page = staff.get(reverse("admin:credits_creditalert_change", args=[alert.pk]))
    grants = staff.get(reverse("admin:credits_creditgrant_changelist"))
    grant_page = staff.get(reverse("admin:credits_creditgrant_change", args=[grant.pk]))

    assert column(alerts, "opened at") == [zoned_text(alert.opened_at, NEW_YORK)]
    assert detail_fields(alert_page)["opened_at_in_zone"] == zoned_text(alert.opened_at, NEW_YORK)
    assert column(grants, "expires at") == ["2099-06-01 12:00:00 EDT (America/New_York)"]
    assert detail_fields(grant_page)["expires_at_in_zone"] == "2099-06-01 12:00:00 EDT (America/New_York)"


def test_an_api_keys_expiry_reads_in_its_outlets_zone_in_the_list_on_its_page_and_on_the_outlet_page(staff):
    outlet = OutletFactory(timezone="America/New_York")
    key, _ = create_api_key(outlet=outlet, expiry_date=datetime(2099, 6, 1, 16, tzinfo=UTC))
    expiry = "2099-06-01 12:00:00 EDT (America/New_York)"

    listing = staff.get(reverse("admin:credits_apikey_changelist"))
    page = staff.get(reverse("admin:credits_apikey_change", args=[key.pk]))
    outlet_page = staff.get(reverse("admin:credits_outlet_change", args=[outlet.pk]))

    assert column(listing, "expiry date") == [expiry]
    assert detail_fields(page)["expiry_date_in_zone"] == expiry
    assert expiry in unescape(re.sub(r"<[^>]+>", "", outlet_page.content.decode()))  # its keys, inline


@pytest.mark.parametrize(
    ("model", "header", "when"),
    [("creditledgerentry", "effective at", "effective_at"), ("creditgrant", "created at", "created_at"),
     ("creditalert", "opened at", "opened_at"), ("creditaccount", "updated at", "updated_at")],
)
def test_a_page_of_100_rows_in_five_zones_reads_each_outlets_zone_without_a_query_per_row(
    staff, model, header, when, django_assert_max_num_queries
):
    for zone in ZONES:
        outlet = OutletFactory(timezone=zone)
        for _ in range(20):
            fund(AgentFactory(outlet=outlet), "3")  # below the threshold: an alert each

    with django_assert_max_num_queries(8):  # as for a page of 5 rows
        response = staff.get(reverse(f"admin:credits_{model}_changelist"))

    rows = response.context["cl"].result_list
    assert len(rows) == 100
    assert column(response, header) == [zoned_text(getattr(row, when), row.outlet.zone) for row in rows]
    assert {row.outlet.timezone for row in rows} == set(ZONES)


# Grants: Add credits with terms, the grants on the account page, Void.


def void_url(agent, grant) -> str:
    return reverse("admin:credits_creditaccount_void", args=[agent.pk, grant.pk])


def confirmation_rows(response) -> dict[str, str]:
    return {row[0]: row[1] for row in response.context["rows"]}


def test_add_credits_takes_expiry_in_the_outlets_zone_priority_and_source_and_confirms_them(staff, agent):
    agent.outlet.timezone = "Europe/Paris"
    agent.outlet.save()
    data = {"amount": "30", "expires_at_0": "2099-01-31", "expires_at_1": "12:00:00", "priority": "10",
            "source": "promotion", "reason": "January promotion"}

    confirmation = staff.post(balance_url(agent, "add"), data)

    rows = confirmation_rows(confirmation)
    assert (rows["Source"], rows["Priority"], rows["Expires"]) == ("Promotion", "10", "2099-01-31 12:00 CET (Europe/Paris)")
    assert not CreditGrant.objects.exists()
    response = staff.post(balance_url(agent, "add"), hidden_inputs(confirmation))

    assert response.status_code == 302
    grant = CreditGrant.objects.get()
    assert (grant.source, grant.priority, grant.amount) == ("promotion", 10, Decimal("30"))
    assert grant.expires_at == datetime(2099, 1, 31, 11, tzinfo=UTC)
    assert CreditLedgerEntry.objects.get().kind == Kind.ADD


def test_add_credits_without_terms_opens_a_purchase_that_never_expires(staff, agent):
    confirmation = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "top-up"})
    staff.post(balance_url(agent, "add"), hidden_inputs(confirmation))

    grant = CreditGrant.objects.get()
    assert (grant.source, grant.priority, grant.expires_at) == ("purchase", 100, None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"expires_at_0": "2020-01-01", "expires_at_1": "00:00:00"}, "expires_at"),
        ({"expires_at_0": "someday", "expires_at_1": "noon"}, "expires_at"),
        ({"priority": "-1"}, "priority"),
        ({"priority": str(2**31)}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"source": "allocation"}, "source"),
    ],
)
def test_bad_grant_terms_give_a_form_error_and_write_nothing(staff, agent, data, field):
    response = staff.post(balance_url(agent, "add"), {"amount": "5", "reason": "r", **data})

    assert response.status_code == 200
    assert field in form_errors(response)
    assert "rows" not in response.context
    assert not CreditLedgerEntry.objects.exists() and not CreditGrant.objects.exists()


def test_account_page_lists_grants_in_the_outlets_zone_with_void_only_on_active_ones_and_the_movements(staff, agent):
    agent.outlet.timezone = "America/New_York"
    agent.outlet.save()
    expires = datetime(2099, 6, 1, 16, tzinfo=UTC)
    services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="promo",
                         terms=GrantTerms(source="promotion", priority=1, expires_at=expires))
    fund(agent, "20")
    services.credits_set(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="draws the promotion first")
    promotion, purchase = CreditGrant.objects.order_by("id")

    page = staff.get(account_url(agent))

    content = page.content.decode()
    assert list(page.context["grants"]) == [promotion, purchase]
    assert "2099-06-01 12:00:00 EDT (America/New_York)" in content
    assert void_url(agent, purchase) in content and void_url(agent, promotion) not in content  # depleted
    (movement,) = page.context["movements"]
    assert (movement.grant, movement.amount, movement.entry.kind) == (promotion, Decimal("5"), Kind.SET)
    assert staff.get(page.context["grants_url"]).context["cl"].result_count == 2


def test_a_grant_past_its_expiry_reads_expired_without_a_void_button_before_any_write_off(staff, agent):
    with Clock() as clock:
        services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="promo",
                             terms=GrantTerms(expires_at=clock.now + timedelta(minutes=1)))
        grant = CreditGrant.objects.get()
        clock.advance(minutes=2)

        page = staff.get(account_url(agent)).content.decode()

        refused = staff.get(void_url(agent, grant))

    assert "Expired (not yet written off)" in page
    assert void_url(agent, grant) not in page
    assert refused.status_code == 302 and messages_of(refused) == [f"Grant {grant.pk} is past its expiry: it holds nothing to void."]


def test_void_confirms_with_a_reason_then_writes_one_void_entry(staff, staff_user, agent):
    fund(agent, "12")
    grant = CreditGrant.objects.get()

    assert staff.get(void_url(agent, grant)).status_code == 200
    assert "reason" in form_errors(staff.post(void_url(agent, grant), {"reason": " "}))
    confirmation = staff.post(void_url(agent, grant), {"reason": "sold by mistake"})
    assert confirmation_rows(confirmation)["Balance after"] == "0.00"
    assert not CreditLedgerEntry.objects.filter(kind=Kind.VOID).exists()

    response = staff.post(void_url(agent, grant), hidden_inputs(confirmation))

    assert response.status_code == 302 and response.url == account_url(agent)
    entry = CreditLedgerEntry.objects.get(kind=Kind.VOID)
    assert (entry.amount, entry.actor_user, entry.reason) == (Decimal("-12"), staff_user, "sold by mistake")
    grant.refresh_from_db()
    assert grant.status == CreditGrant.Status.VOIDED and balance(agent) == 0
    assert messages_of(response) == [f"Voided grant {grant.pk} of {agent}: 12.00 -> 0.00."]


def test_voiding_a_grant_twice_says_it_holds_nothing_and_writes_nothing(staff, agent):
    fund(agent, "12")
    grant = CreditGrant.objects.get()
    confirmation = staff.post(void_url(agent, grant), {"reason": "mistake"})
    staff.post(void_url(agent, grant), hidden_inputs(confirmation))

    again = staff.post(void_url(agent, grant), {**hidden_inputs(confirmation), "idempotency_key": "admin-another"})

    assert again.status_code == 302 and again.url == account_url(agent)
    assert messages_of(again)[-1] == f"Grant {grant.pk} is voided: it holds nothing to void."
    assert CreditLedgerEntry.objects.filter(kind=Kind.VOID).count() == 1


def test_another_accounts_grant_cannot_be_voided_from_this_page(staff, agent):
    other = AgentFactory(outlet=agent.outlet)
    fund(other, "3")

    response = staff.post(void_url(agent, CreditGrant.objects.get()), {"reason": "r"})

    assert response.status_code == 404


# The outlet pool: Add to pool, Allocate, Reclaim.


def pool_url(outlet, operation: str) -> str:
    return reverse("admin:credits_outlet_pool", args=[outlet.pk, operation])


def pool_balance(outlet) -> Decimal:
    return selectors.pool_account_get(outlet_id=outlet.pk).balance


def fund_pool(outlet, amount) -> None:
    services.pool_add(outlet=outlet, amount=Decimal(amount), actor=ACTOR, reason="pool purchase")


def test_outlet_page_shows_the_pool_its_usable_grants_and_buttons(staff, outlet):
    fund_pool(outlet, "250")

    page = staff.get(reverse("admin:credits_outlet_change", args=[outlet.pk]))

    content = page.content.decode()
    assert "Pool: 250.00" in content
    assert list(page.context["pool_grants"]) == list(CreditGrant.objects.all())
    assert all(pool_url(outlet, operation) in content for operation in ("add", "allocate", "reclaim"))


def test_add_to_pool_confirms_then_opens_a_grant_on_the_pool(staff, outlet):
    data = {"amount": "100", "expires_at_0": "2099-03-01", "expires_at_1": "00:00:00", "priority": "5",
            "source": "purchase", "reason": "bought for the location"}

    confirmation = staff.post(pool_url(outlet, "add"), data)
    assert confirmation_rows(confirmation)["Pool balance after"] == "100.00"
    response = staff.post(pool_url(outlet, "add"), hidden_inputs(confirmation))

    assert response.status_code == 302
    grant = CreditGrant.objects.get()
    assert grant.account.is_pool and (grant.amount, grant.priority) == (Decimal("100"), 5)
    assert pool_balance(outlet) == Decimal("100")
    assert messages_of(response) == [f"Add to pool of {outlet}: 0.00 -> 100.00."]


def test_allocate_confirms_both_balances_before_and_after_then_moves_the_credits(staff, agent):
    fund(agent, "2")
    fund_pool(agent.outlet, "50")
    data = {"agent": agent.pk, "amount": "20", "reason": "for the weekend"}

    confirmation = staff.post(pool_url(agent.outlet, "allocate"), data)

    rows = confirmation_rows(confirmation)
    assert (rows["Pool balance before"], rows["Pool balance after"]) == ("50.00", "30.00")
    assert (rows[f"{agent.name}'s balance before"], rows[f"{agent.name}'s balance after"]) == ("2.00", "22.00")
    assert not CreditLedgerEntry.objects.filter(kind=Kind.ALLOCATE).exists()
    response = staff.post(pool_url(agent.outlet, "allocate"), hidden_inputs(confirmation))

    assert response.status_code == 302
    assert CreditLedgerEntry.objects.filter(kind=Kind.ALLOCATE).count() == 2  # the pool's and the agent's
    assert (pool_balance(agent.outlet), balance(agent)) == (Decimal("30"), Decimal("22"))
    assert messages_of(response) == [f"Allocate 20.00, {agent}: pool 50.00 -> 30.00, agent 2.00 -> 22.00."]


def test_reclaim_moves_unused_allocation_back_to_the_pool(staff, agent):
    fund_pool(agent.outlet, "50")
    pool.pool_allocate(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="weekend")

    confirmation = staff.post(pool_url(agent.outlet, "reclaim"), {"agent": agent.pk, "amount": "15", "reason": "unused"})
    staff.post(pool_url(agent.outlet, "reclaim"), hidden_inputs(confirmation))

    assert (pool_balance(agent.outlet), balance(agent)) == (Decimal("45"), Decimal("5"))


@pytest.mark.parametrize(
    ("operation", "amount", "error"),
    [
        ("allocate", "50.01", "Only 50.00 available: the pool holds less than 50.01."),
        ("reclaim", "1", "Only 0.00 available: the agent's unused allocations hold less than 1.00."),
        ("allocate", "-5", None),
    ],
)
def test_moving_more_than_the_source_holds_is_a_form_error_and_moves_nothing(staff, agent, operation, amount, error):
    fund(agent, "10")
    fund_pool(agent.outlet, "50")

    response = staff.post(pool_url(agent.outlet, operation), {"agent": agent.pk, "amount": amount, "reason": "r"})

    assert response.status_code == 200
    assert "rows" not in response.context
    assert error is None or form_errors(response)["amount"] == [error]
    assert "amount" in form_errors(response)
    assert CreditLedgerEntry.objects.count() == 2
    assert (pool_balance(agent.outlet), balance(agent)) == (Decimal("50"), Decimal("10"))


def test_allocate_offers_only_the_outlets_own_agents(staff, agent):
    fund_pool(agent.outlet, "50")
    stranger = AgentFactory(outlet=OutletFactory())

    response = staff.post(pool_url(agent.outlet, "allocate"), {"agent": stranger.pk, "amount": "5", "reason": "r"})

    assert "agent" in form_errors(response)
    assert balance(stranger) == 0


def test_allocation_beyond_the_pool_at_confirmation_is_shown_on_the_form(staff, agent):
    fund_pool(agent.outlet, "50")
    confirmation = staff.post(pool_url(agent.outlet, "allocate"), {"agent": agent.pk, "amount": "40", "reason": "r"})
    pool.pool_allocate(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="meanwhile, by the API")

    response = staff.post(pool_url(agent.outlet, "allocate"), hidden_inputs(confirmation))

    assert response.status_code == 200
    assert "amount" in form_errors(response)
    assert (pool_balance(agent.outlet), balance(agent)) == (Decimal("30"), Decimal("20"))


# Who may move credits.


def test_staff_without_change_permission_on_accounts_get_no_void_or_pool_buttons(client, agent):
    fund(agent, "10")
    fund_pool(agent.outlet, "50")
    grant = CreditGrant.objects.get(account=agent.account)
    viewer = StaffFactory(is_superuser=False)
    for codename in ("view_creditaccount", "view_outlet", "change_outlet"):
        viewer.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(viewer)

    account_page = client.get(account_url(agent)).content.decode()
    outlet_page = client.get(reverse("admin:credits_outlet_change", args=[agent.outlet.pk])).content.decode()

    assert "Pool: 50.00" in outlet_page
    assert reverse("admin:credits_creditgrant_change", args=[grant.pk]) in account_page  # they see the grants
    assert void_url(agent, grant) not in account_page
    assert not any(pool_url(agent.outlet, operation) in outlet_page for operation in ("add", "allocate", "reclaim"))
    assert client.post(void_url(agent, grant), {"reason": "r"}).status_code == 403
    assert client.post(pool_url(agent.outlet, "add"), {"amount": "5", "reason": "r"}).status_code == 403
    allocate = client.post(pool_url(agent.outlet, "allocate"), {"agent": agent.pk, "amount": "5", "reason": "r"})
    assert allocate.status_code == 403
    assert CreditLedgerEntry.objects.count() == 2


# The grant list: read-only.


def test_grant_list_filters_searches_and_is_read_only(staff, agent):
    agent.name = "Maya"  # no digits: a search for a grant's id also matches agent names containing it
    agent.save()
    fund(agent, "10")
    fund_pool(agent.outlet, "50")
    services.credits_add(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="promo",
                         terms=GrantTerms(source="promotion", expires_at=timezone.now() + timedelta(days=3)))
    grant = CreditGrant.objects.get(source="promotion")
    changelist = reverse("admin:credits_creditgrant_changelist")
    change_url = reverse("admin:credits_creditgrant_change", args=[grant.pk])

    assert staff.get(changelist, {"source__exact": "promotion"}).context["cl"].result_count == 1
    assert staff.get(changelist, {"status__exact": "active", "outlet__id__exact": agent.outlet.pk}).context[
        "cl"].result_count == 3
    assert staff.get(changelist, {"q": agent.name}).context["cl"].result_count == 2
    assert list(staff.get(changelist, {"q": str(grant.pk)}).context["cl"].result_list) == [grant]
    assert staff.get(changelist, {"q": "no such grant"}).status_code == 200
    assert 'name="_save"' not in staff.get(change_url).content.decode()
    assert staff.get(reverse("admin:credits_creditgrant_add")).status_code == 403
    assert staff.post(change_url, {"priority": "1"}).status_code == 403
    assert staff.post(reverse("admin:credits_creditgrant_delete", args=[grant.pk]), {"post": "yes"}).status_code == 403
