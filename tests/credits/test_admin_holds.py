"""The admin's holds and spend controls: an agent's holds with Release, the hold and top-up lists, the forms."""

import re
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from config.admin import zoned_text
from config.errors import InsufficientCreditsError
from credits import services
from credits.holds.models import CreditHold, CreditHoldEvent, CreditTopUp
from credits.holds.services import hold_place, hold_release
from credits.models import CreditAccount
from tests.credits.test_admin import ZONES, account_url, column, detail_fields, fund, hidden_inputs, messages_of
from tests.factories import AgentFactory, OutletFactory, StaffFactory

ACTOR = services.Actor.system("tests")
AGENT_FIELDS = {"name": "Front desk", "external_id": "fd-1", "is_active": "on"}
OUTLET_FIELDS = {
    "name": "Outlet", "timezone": "UTC", "currency": "USD", "billing_cycle_day": 1, "low_balance_threshold": "10",
    "is_active": "on", "agents-TOTAL_FORMS": 0, "agents-INITIAL_FORMS": 0, "api_keys-TOTAL_FORMS": 0,
    "api_keys-INITIAL_FORMS": 0,
}
RULE = {"top_up_threshold": "20", "top_up_amount": "100", "top_up_source": "pool", "top_up_max_per_day": "2"}


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def hold(agent, amount="5", reference="") -> CreditHold:
    return hold_place(agent=agent, amount=Decimal(amount), actor=ACTOR, reference=reference).hold


def top_up(agent, event_id="evt_top_up_1") -> CreditTopUp:
    return CreditTopUp.objects.create(
        event_id=event_id, outlet=agent.outlet, account=agent.account, source="external", status="requested",
        amount=Decimal("100"), threshold=Decimal("20"), balance=Decimal("19"), local_date=date(2026, 12, 1),
    )


def release_url(agent, hold_id) -> str:
    return reverse("admin:credits_creditaccount_release", args=[agent.pk, hold_id])


def listed_holds(page) -> list[str]:
    """The hold ids of the account page's Holds table, in its order."""
    return re.findall(r'credithold/([0-9a-f-]{36})/change/', page.content.decode())


# The account page's holds and Release.


def test_account_page_lists_holds_active_first_then_newest_with_expiry_in_the_outlets_zone(staff, clock):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Tokyo"))
    fund(agent, "100")
    first = hold(agent, "5", reference="call-1")
    clock.advance(seconds=1)
    second = hold(agent, "7")
    clock.advance(seconds=1)
    ended = hold(agent, "3")
    hold_release(outlet_id=None, hold_id=ended.pk, actor=ACTOR)

    page = staff.get(account_url(agent))

    assert listed_holds(page) == [str(second.pk), str(first.pk), str(ended.pk)]
    content = page.content.decode()
    assert f"{timezone.localtime(first.expires_at, timezone=timezone.get_fixed_timezone(540)):%Y-%m-%d %H:%M:%S} JST" in content
    assert "<td>call-1</td>" in content and "<td>5.00</td>" in content
    assert content.count(">Release</a>") == 2 and release_url(agent, ended.pk) not in content
    assert "Enforcement off, overdraft limit 0.00; no auto top-up." in content


def test_release_confirms_then_releases_the_hold_as_the_staff_user(staff, staff_user, agent):
    fund(agent, "10")
    held = hold(agent, "4", reference="call-9")

    confirmation = staff.get(release_url(agent, held.pk))
    assert confirmation.status_code == 200
    rows = dict(row[:2] for row in confirmation.context["rows"])
    assert (rows["Reference"], rows["Given back"]) == ("call-9", "4.00")
    assert CreditHold.objects.get().status == CreditHold.Status.ACTIVE

    response = staff.post(release_url(agent, held.pk), hidden_inputs(confirmation))

    assert response.status_code == 302 and response.url == account_url(agent)
    held.refresh_from_db()
    assert held.status == CreditHold.Status.RELEASED
    event = CreditHoldEvent.objects.get(kind=CreditHoldEvent.Kind.RELEASE)
    assert (event.actor_user, event.amount) == (staff_user, Decimal("4"))
    assert messages_of(response) == [f"Released hold {held.pk} of {agent} (released): 10.00 available."]


def test_posting_the_confirmation_again_replays_and_releases_once(staff, agent):
    held = hold(agent)
    confirmation = staff.get(release_url(agent, held.pk))
    staff.post(release_url(agent, held.pk), hidden_inputs(confirmation))

    again = staff.post(release_url(agent, held.pk), hidden_inputs(confirmation))

    assert again.status_code == 302
    assert CreditHoldEvent.objects.filter(kind=CreditHoldEvent.Kind.RELEASE).count() == 1


def test_an_ended_or_expired_hold_has_nothing_to_release(staff, agent, clock):
    released, expiring = hold(agent), hold(agent)
    hold_release(outlet_id=None, hold_id=released.pk, actor=ACTOR)
    clock.advance(seconds=301)

    for held, state in ((released, "released"), (expiring, "past its expiry")):
        response = staff.post(release_url(agent, held.pk), {"idempotency_key": "admin-x"})
        assert response.status_code == 302 and response.url == account_url(agent)
        assert messages_of(response)[-1] == f"Hold {held.pk} is {state}: it reserves nothing to release."
    assert "Expired (not yet marked)" in staff.get(account_url(agent)).content.decode()
    assert CreditHold.objects.get(pk=expiring.pk).status == CreditHold.Status.ACTIVE


def test_another_accounts_hold_cannot_be_released_from_this_page(staff, agent):
    other = hold(AgentFactory(outlet=agent.outlet))

    assert staff.get(release_url(agent, other.pk)).status_code == 404
    assert CreditHold.objects.get().status == CreditHold.Status.ACTIVE


def test_staff_without_change_permission_on_accounts_see_holds_but_cannot_release(client, agent):
    held = hold(agent)
    viewer = StaffFactory(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_creditaccount"))
    client.force_login(viewer)

    page = client.get(account_url(agent))

    assert listed_holds(page) == [str(held.pk)] and ">Release</a>" not in page.content.decode()
    assert client.get(release_url(agent, held.pk)).status_code == 403
    assert client.post(release_url(agent, held.pk), {"idempotency_key": "admin-x"}).status_code == 403
    assert CreditHold.objects.get().status == CreditHold.Status.ACTIVE


# The read-only lists.


def test_hold_list_filters_by_status_and_outlet_searches_reference_and_id_and_is_read_only(staff, agent):
    live = hold(agent, reference="call-42")
    ended = hold(AgentFactory(), reference="call-43")
    hold_release(outlet_id=None, hold_id=ended.pk, actor=ACTOR)
    changelist = reverse("admin:credits_credithold_changelist")

    def listed(**params):
        return list(staff.get(changelist, params).context["cl"].result_list)

    assert listed(status__exact="active") == [live]
    assert listed(outlet__id__exact=str(ended.outlet_id)) == [ended]
    assert listed(q="call-43") == [ended]
    assert listed(q=str(live.pk)) == [live]
    assert staff.get(changelist, {"q": "not an id"}).status_code == 200
    change = reverse("admin:credits_credithold_change", args=[live.pk])
    assert 'name="_save"' not in staff.get(change).content.decode()
    assert staff.post(change, {"amount": "1"}).status_code == 403
    assert staff.get(reverse("admin:credits_credithold_add")).status_code == 403


def test_top_up_list_shows_top_ups_read_only(staff, agent):
    requested = top_up(agent)
    changelist = reverse("admin:credits_credittopup_changelist")

    response = staff.get(changelist, {"q": "evt_top_up_1"})

    assert list(response.context["cl"].result_list) == [requested]
    assert staff.get(changelist, {"status__exact": "pool_low"}).context["cl"].result_count == 0
    assert staff.get(reverse("admin:credits_credittopup_add")).status_code == 403


# Spend controls on the agent and outlet forms.


def post_agent(staff, agent, **fields):
    return staff.post(reverse("admin:credits_agent_change", args=[agent.pk]), {**AGENT_FIELDS, **fields})


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"top_up_threshold": "20"}, {"top_up_amount", "top_up_source", "top_up_max_per_day"}),
        ({**RULE, "top_up_source": ""}, {"top_up_source"}),
        ({"overdraft_limit": "-1"}, {"overdraft_limit"}),
        ({**RULE, "top_up_amount": "0"}, {"top_up_amount"}),
        ({**RULE, "top_up_threshold": "-5"}, {"top_up_threshold"}),
        ({"enforcement": "always"}, {"enforcement"}),
        ({**RULE, "top_up_max_per_day": "1001"}, {"top_up_max_per_day"}),  # the API's limit too
    ],
)
def test_agent_form_refuses_a_partial_rule_and_bad_values_and_saves_nothing(staff, agent, fields, errors):
    response = post_agent(staff, agent, **fields)

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == errors
    agent.refresh_from_db()
    assert (agent.enforcement, agent.overdraft_limit, agent.top_up_threshold, agent.top_up_source) == (None,) * 4


def test_a_partial_rule_and_a_zero_amount_say_what_to_do(staff, agent):
    response = post_agent(staff, agent, top_up_threshold="20")

    errors = response.context["adminform"].form.errors
    assert errors["top_up_amount"] == [
        "A top-up rule takes all four: threshold, amount, source and max per day (or none of them)."
    ]
    assert "__all__" not in errors  # not the constraint's own message
    zero = post_agent(staff, agent, **{**RULE, "top_up_amount": "0"}).context["adminform"].form.errors
    assert zero["top_up_amount"] == ["A top-up adds more than 0 credits."]


def test_agent_form_saves_controls_and_shows_what_is_in_effect_over_the_outlets(staff, agent):
    outlet = agent.outlet
    outlet.enforcement, outlet.overdraft_limit = "block", Decimal("5")
    outlet.save()

    response = post_agent(staff, agent, overdraft_limit="25", **RULE)

    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.enforcement, agent.overdraft_limit, agent.top_up_source, agent.top_up_max_per_day) == (
        None, Decimal("25"), "pool", 2
    )
    page = staff.get(reverse("admin:credits_agent_change", args=[agent.pk])).content.decode()
    assert (
        "Enforcement block, overdraft limit 25.00; auto top-up of 100.00 from the outlet pool below 20.00, "
        "at most 2 a day." in page
    )


def test_outlet_form_takes_the_agents_defaults_and_refuses_a_partial_rule(staff, outlet):
    url = reverse("admin:credits_outlet_change", args=[outlet.pk])

    refused = staff.post(url, {**OUTLET_FIELDS, "top_up_amount": "100"})
    saved = staff.post(url, {**OUTLET_FIELDS, "enforcement": "block", "overdraft_limit": "0", **RULE})

    assert set(refused.context["adminform"].form.errors) == {"top_up_threshold", "top_up_source", "top_up_max_per_day"}
    assert saved.status_code == 302
    outlet.refresh_from_db()
    assert (outlet.enforcement, outlet.overdraft_limit, outlet.top_up_amount) == ("block", Decimal("0"), Decimal("100"))


def test_block_set_in_the_admin_refuses_a_hold_past_the_limit(staff, agent):
    fund(agent, "10")
    post_agent(staff, agent, enforcement="block")

    with pytest.raises(InsufficientCreditsError):
        hold(agent, "11")

    assert CreditAccount.objects.get(pk=agent.pk).hold_refused_at is not None


@pytest.mark.parametrize("model", ["credithold", "credittopup"])
def test_hold_and_top_up_lists_of_100_rows_in_five_zones_cost_no_query_per_row(
    staff, model, django_assert_max_num_queries
):
    for n in range(100):
        agent = AgentFactory(outlet=OutletFactory(timezone=ZONES[n % len(ZONES)]))
        top_up(agent, event_id=f"evt_{n}")
        hold(agent)

    with django_assert_max_num_queries(8):  # as for a page of 5 rows
        response = staff.get(reverse(f"admin:credits_{model}_changelist"))

    rows = response.context["cl"].result_list
    assert len(rows) == 100
    assert column(response, "created at") == [zoned_text(row.created_at, row.outlet.zone) for row in rows]


def test_a_kolkata_hold_and_top_up_read_in_its_zone_in_the_lists_and_on_their_pages(staff):
    agent = AgentFactory(outlet=OutletFactory(timezone="Asia/Kolkata"))
    placed, requested = hold(agent), top_up(agent)
    kolkata = ZoneInfo("Asia/Kolkata")

    holds = staff.get(reverse("admin:credits_credithold_changelist"))
    hold_page = staff.get(reverse("admin:credits_credithold_change", args=[placed.pk]))
    top_ups = staff.get(reverse("admin:credits_credittopup_changelist"))
    top_up_page = staff.get(reverse("admin:credits_credittopup_change", args=[requested.pk]))

    assert column(holds, "expires at") == [zoned_text(placed.expires_at, kolkata)]
    assert detail_fields(hold_page)["expires_at_in_zone"] == zoned_text(placed.expires_at, kolkata)
    assert column(top_ups, "created at") == [zoned_text(requested.created_at, kolkata)]
    assert detail_fields(top_up_page)["created_at_in_zone"] == zoned_text(requested.created_at, kolkata)
    assert "IST (Asia/Kolkata)" in detail_fields(top_up_page)["created_at_in_zone"]


def test_agent_add_page_offers_the_controls_and_says_what_is_in_effect_only_once_saved(staff, outlet):
    page = staff.get(reverse("admin:credits_agent_add"))

    assert page.status_code == 200
    assert {"outlet", "enforcement", "top_up_max_per_day"} <= set(page.context["adminform"].form.fields)
