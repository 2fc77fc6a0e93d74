"""The admin kit: view-only screens and changelists that stay cheap on big tables."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from config.admin import (
    BigTableMixin,
    EstimatedCountPaginator,
    ViewOnlyMixin,
    clock_duration,
    compact_time,
    table_row_estimate,
    zoned_text,
)
from credits.models import CreditAccount, Outlet
from tests.conftest import ON_POSTGRES
from tests.factories import AgentFactory, OutletFactory

pytestmark = pytest.mark.django_db


class OutletViewOnlyAdmin(ViewOnlyMixin, admin.ModelAdmin):
    pass


def test_a_view_only_screen_refuses_add_change_and_delete_even_to_a_superuser(django_user_model):
    request = RequestFactory().get("/")
    request.user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    screen = OutletViewOnlyAdmin(Outlet, admin.site)

    assert not screen.has_add_permission(request)
    assert not screen.has_change_permission(request)
    assert not screen.has_delete_permission(request)
    assert screen.has_view_permission(request)


def test_a_big_table_changelist_never_counts_the_whole_table_or_its_facets():
    assert BigTableMixin.paginator is EstimatedCountPaginator
    assert BigTableMixin.show_full_result_count is False
    assert BigTableMixin.show_facets is admin.ShowFacets.NEVER


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite has no row estimate")
def test_without_a_row_estimate_the_paginator_counts_exactly():
    OutletFactory.create_batch(3)

    assert table_row_estimate(Outlet.objects.all()) == -1
    assert EstimatedCountPaginator(Outlet.objects.all(), 2).count == 3


def test_a_filtered_list_is_always_counted_exactly(monkeypatch):
    OutletFactory.create_batch(3)
    monkeypatch.setattr(EstimatedCountPaginator, "estimate_above", -2)  # any estimate, even "unknown", would do

    assert EstimatedCountPaginator(Outlet.objects.filter(name__startswith=""), 2).count == 3


def sidebar(client) -> list[tuple[str, list[str]]]:
    app_list = client.get(reverse("admin:credits_outlet_changelist")).context["available_apps"]
    return [(app["name"], [entry["object_name"] for entry in app["models"]]) for app in app_list]


def test_the_sidebar_lists_the_domain_first_and_the_rollup_internals_last_under_one_heading(admin_client):
    apps = sidebar(admin_client)

    assert apps[:3] == [
        ("Credits", ["Outlet", "Agent", "ApiKey", "CreditAccount", "CreditLedgerEntry", "CreditGrant", "CreditAlert",
                     "WebhookDelivery", "CreditHold", "CreditTopUp", "Price"]),
        ("Usage", ["UsageRecord", "Interaction"]),
        ("Analytics", ["RequestLog"]),
    ]
    heading, internals = apps[-1]
    rollups = [model.__name__ for model in admin.site._registry if model.__name__.endswith("Rollup")]
    assert heading == "Analytics internals" and internals == [*rollups, "DirtyBucket"] and len(rollups) == 10


def test_a_screen_marked_internal_joins_the_internals_heading_wherever_it_is_registered(admin_client):
    outlet_admin = admin.site._registry[Outlet]
    outlet_admin.internal = True
    try:
        apps = sidebar(admin_client)
    finally:
        del outlet_admin.internal

    assert "Outlet" not in dict(apps)["Credits"] and "Outlet" in dict(apps)["Analytics internals"]


def test_the_admin_index_lists_apps_in_the_sidebars_order(admin_client):
    content = admin_client.get(reverse("admin:index")).content.decode()

    headings = [content.find(f">{name}<") for name in ("Credits", "Usage", "Analytics internals")]
    assert -1 not in headings and headings == sorted(headings)


def test_every_admin_page_carries_the_stylesheet_that_fits_lists_to_the_screen(admin_client):
    for url in (reverse("admin:credits_outlet_changelist"), reverse("admin:auth_user_changelist")):
        assert "ledgerline/admin_lists.css" in admin_client.get(url).content.decode()


def test_admin_times_read_sortable_and_24_hour(admin_client):
    account = AgentFactory().account
    CreditAccount.objects.filter(pk=account.pk).update(created_at="2026-03-01T18:05:09Z")

    content = admin_client.get(reverse("admin:credits_creditaccount_change", args=[account.pk])).content.decode()

    assert "2026-03-01 18:05:09 UTC" in re.sub(r"<[^>]+>", "", content)
    assert "p.m." not in content


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(Decimal("0"), "0:00"), (Decimal("7.9"), "0:07"), (Decimal("245"), "4:05"), (Decimal("3723.5"), "1:02:03")],
)
def test_a_call_length_reads_as_a_clock(seconds, shown):
    assert clock_duration(seconds) == shown


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        (UTC, "2026-03-07 20:00:00 UTC"),
        (ZoneInfo("UTC"), "2026-03-07 20:00:00 UTC"),
        (ZoneInfo("Asia/Kolkata"), "2026-03-08 01:30:00 IST (Asia/Kolkata)"),
        (ZoneInfo("America/New_York"), "2026-03-07 15:00:00 EST (America/New_York)"),
        (ZoneInfo("Asia/Dubai"), "2026-03-08 00:00:00 +04 (Asia/Dubai)"),  # no abbreviation: the offset, and the name
    ],
)
def test_a_time_names_its_zone_by_abbreviation_and_name_and_utc_once(zone, shown):
    moment = datetime(2026, 3, 7, 20, tzinfo=UTC)

    assert zoned_text(moment, zone) == shown
    assert re.sub(r"<[^>]+>", "", compact_time(moment, zone)) == shown  # a list column: wraps only between the parts
