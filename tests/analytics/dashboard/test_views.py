"""The dashboard view: the admin index, staff only, every table's CSV download, the permissions it needs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from analytics.dashboard.links import account_url
from analytics.dashboard.views import DASHBOARD_PERMISSIONS
from credits import services
from credits.grants import GrantTerms
from credits.models import CreditGrant
from tests.analytics.dashboard.pages import INDEX, SPEND_RANGE, csv_rows, kpis
from tests.analytics.handbuilt import D1, D3
from tests.factories import StaffFactory, UserFactory

TABLES = (
    "daily", "by_type", "top_agents", "models", "status", "sentiment", "drop_off", "runway", "alerts",
    "expiring", "failed_requests",
)


def test_the_admin_index_is_the_dashboard_and_staff_only(client, db):
    assert reverse("admin:index") == INDEX
    assert client.get(INDEX).url == f"{reverse('admin:login')}?next={INDEX}"

    client.force_login(UserFactory())  # not staff
    assert client.get(INDEX).url.startswith(reverse("admin:login"))
    assert client.get(INDEX, {"format": "csv", "table": "runway"}).status_code == 302


def test_an_empty_database_shows_an_empty_dashboard(staff):
    page = staff.get(INDEX)

    assert page.status_code == 200
    assert "admin/index.html" in [template.name for template in page.templates]
    assert kpis(page) == {
        "credits-consumed": "0.00", "spend-usd": "$0.00", "calls": "0", "success-rate": "—",
        "average-latency": "—", "agents-below-threshold": "0", "credits-held-now": "0.00",
        "agents-refused-a-hold-today": "0",
    }
    assert "No failed API calls today." in page.content.decode()
    assert 'id="nav-sidebar"' in page.content.decode()  # every model is one click away


def test_every_table_downloads_as_csv_with_the_pages_filters(staff, spend):
    page = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk})
    html = page.content.decode()

    for name in TABLES:
        url = f"?outlet={spend['outlet'].pk}&amp;from={D1}&amp;to={D3}&amp;format=csv&amp;table={name}"
        assert f'href="{url}"' in html, name
        response = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk, "format": "csv", "table": name})
        assert response["Content-Disposition"] == f'attachment; filename="dashboard-{name}-{D1}-{D3}.csv"'
        csv_rows(response)


def test_an_unknown_table_is_a_404(staff):
    assert staff.get(INDEX, {"format": "csv", "table": "secrets"}).status_code == 404


@pytest.fixture
def staff_with(client, db):
    """A staff client holding only the given permissions."""

    def login(*names: str):
        user = StaffFactory(is_superuser=False)
        for name in names:
            app_label, codename = name.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return login


def test_staff_without_the_view_permissions_get_the_plain_index_and_no_numbers(staff_with, today):
    client = staff_with("credits.view_creditaccount")
    page = client.get(INDEX)
    assert page.status_code == 200 and "dashboard" not in page.context
    assert "The dashboard needs the permissions usage.view_usagerecord" in page.content.decode()
    assert client.get(INDEX, {"format": "csv", "table": "failed_requests"}).status_code == 403


def test_staff_with_every_view_permission_see_the_dashboard(staff_with, today):
    page = staff_with(*DASHBOARD_PERMISSIONS).get(INDEX)
    assert page.status_code == 200 and page.context["dashboard"]["kpis"]


def test_the_breakdown_selector_asks_again_with_the_pages_outlet_and_range(staff, spend):
    page = staff.get(INDEX, {**SPEND_RANGE, "outlet": spend["outlet"].pk, "breakdown": "product", "interval": "week"})
    html = page.content.decode()

    selector = html[html.index('aria-label="Usage breakdown"'):html.index("</form>", html.index("Usage breakdown"))]
    for name, value in [("outlet", spend["outlet"].pk), ("from", D1), ("to", D3)]:
        assert f'<input type="hidden" name="{name}" value="{value}">' in selector
    assert '<option value="product" selected>Product</option>' in selector
    assert '<option value="week" selected>Week</option>' in selector
    assert '<option value="user">End user</option>' in selector and 'value="agent"' not in selector
    assert 'id="chart-breakdown"' in html and "Credits by product" in html


def test_a_grant_expiring_within_a_week_shows_with_a_link_to_its_account_and_one_ten_days_out_does_not(staff, agent):
    now = timezone.now()
    for amount, days in (("12.5", 3), ("99", 10)):
        services.credits_add(
            agent=agent, amount=Decimal(amount), actor=services.Actor.system("tests"), reason="promotion",
            terms=GrantTerms(source="promotion", expires_at=now + timedelta(days=days)),
        )
    services.credits_add(agent=agent, amount=Decimal("7"), actor=services.Actor.system("tests"), reason="never expires")

    page = staff.get(INDEX)
    rows = csv_rows(staff.get(INDEX, {"format": "csv", "table": "expiring"}))

    (row,) = page.context["dashboard"]["tables"]["expiring"].rows
    assert (row["agent"], row["remaining"]) == (agent.name, Decimal("12.5"))
    assert row["expires_at"] == CreditGrant.objects.get(amount=Decimal("12.5")).expires_at
    assert f'<a href="{account_url(agent.pk)}">{agent.name}</a>' in page.content.decode()
    assert [(line["agent"], line["remaining"]) for line in rows] == [(agent.name, "12.500000")]
