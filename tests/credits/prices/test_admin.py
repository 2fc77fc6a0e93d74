from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from credits.prices.models import Price
from tests.credits.prices.test_models import price_a_record
from tests.factories import OutletFactory, PriceFactory

ADD = reverse("admin:credits_price_add")
LIST = reverse("admin:credits_price_changelist")
FORM = {
    "outlet": "", "type": "TELEPHONY", "model": "", "unit": "seconds", "credits_per_unit": "0.02",
    "cost_usd_per_unit": "0.0001", "increment": "30", "minimum": "60",
    "effective_from_0": "2026-03-01", "effective_from_1": "00:00:00",
}


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def test_the_list_shows_every_version_filtered_and_searched(staff, django_assert_max_num_queries):
    for n in range(10):
        PriceFactory(type="TTS", unit="characters", outlet=OutletFactory() if n % 2 else None,
                     effective_from=datetime(2026, 1, n + 1, tzinfo=UTC))
    PriceFactory(type="STT", unit="seconds")

    with django_assert_max_num_queries(12):
        page = staff.get(LIST, {"q": "TTS"})
    assert page.status_code == 200 and page.context["cl"].result_count == 10
    assert staff.get(LIST, {"unit__exact": "seconds"}).context["cl"].result_count == 1


def test_staff_add_a_version_with_who_added_it(staff, staff_user):
    response = staff.post(ADD, FORM)

    assert response.status_code == 302
    price = Price.objects.get()
    assert (price.outlet, price.increment, price.created_by) == (None, 30, staff_user.get_username())


def test_a_negative_price_is_a_form_error(staff):
    response = staff.post(ADD, {**FORM, "credits_per_unit": "-1", "increment": "0"})

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"credits_per_unit", "increment"}
    assert not Price.objects.exists()


def test_supersede_opens_the_add_form_prefilled_with_a_later_start(staff):
    price = PriceFactory(type="TELEPHONY", unit="seconds", model="twilio", credits_per_unit=Decimal("0.02"))

    form = staff.get(ADD, {"supersede": price.pk}).context["adminform"].form

    assert (form.initial["type"], form.initial["model"], form.initial["credits_per_unit"]) == ("TELEPHONY", "twilio", Decimal("0.02"))
    assert form.initial["effective_from"] > price.effective_from


def test_a_used_price_is_read_only_and_offers_supersede(staff, agent):
    price = price_a_record(agent)
    url = reverse("admin:credits_price_change", args=[price.pk])

    page = staff.get(url)
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert f"?supersede={price.pk}" in page.content.decode()
    assert staff.post(url, {**FORM, "credits_per_unit": "9"}).status_code == 403
    price.refresh_from_db()
    assert price.credits_per_unit == Decimal("0.001")


def test_an_unused_price_may_be_corrected(staff):
    price = PriceFactory(type="TELEPHONY", unit="seconds", effective_from=datetime(2026, 3, 1, tzinfo=UTC))

    response = staff.post(reverse("admin:credits_price_change", args=[price.pk]), {**FORM, "credits_per_unit": "0.05"})

    assert response.status_code == 302
    price.refresh_from_db()
    assert price.credits_per_unit == Decimal("0.05")
