from datetime import UTC, datetime
from decimal import Decimal

import pytest

from credits.prices.book import PriceBook, billable_units, charge
from tests.factories import OutletFactory, PriceFactory

JAN, FEB, MAR = (datetime(2026, month, 1, tzinfo=UTC) for month in (1, 2, 3))


@pytest.mark.parametrize(
    ("count", "increment", "minimum", "billable"),
    [
        ("61", "30", "0", "90"),  # 61 seconds in steps of 30: three steps
        ("60", "30", "0", "60"),  # a whole multiple stays as it is
        ("0.001", "1", "0", "1"),
        ("5", "1", "60", "60"),  # below the minimum: the minimum
        ("0", "30", "0", "0"),
        ("1500", "1000", "0", "2000"),
    ],
)
def test_billable_units_round_up_to_the_increment_and_never_below_the_minimum(count, increment, minimum, billable):
    assert billable_units(count=Decimal(count), increment=Decimal(increment), minimum=Decimal(minimum)) == Decimal(billable)


@pytest.mark.django_db
def test_a_charge_rounds_credits_and_cost_up_to_their_places():
    price = PriceFactory(credits_per_unit=Decimal("0.000001"), cost_usd_per_unit=Decimal("0.00000001"), increment=Decimal("0.5"))

    priced = charge(price, Decimal("0.3"))  # billed 0.5 units: half the smallest step, charged whole

    assert (priced.credits, priced.cost_usd, priced.price_id) == (Decimal("0.000001"), Decimal("0.00000001"), price.pk)


@pytest.mark.django_db
def test_a_charge_past_what_a_record_holds_is_an_overflow():
    price = PriceFactory(credits_per_unit=Decimal("10000000"))
    with pytest.raises(OverflowError):
        charge(price, Decimal("100000000000"))


def book_for(outlet):
    return PriceBook.load(outlet_id=outlet.pk, keys={("TTS", "nova", "characters")}, until=MAR)


@pytest.mark.django_db
def test_the_outlet_price_beats_the_default_and_the_exact_model_beats_any():
    outlet = OutletFactory()
    default_any = PriceFactory(type="TTS", unit="characters", effective_from=JAN)
    default_exact = PriceFactory(type="TTS", unit="characters", model="nova", effective_from=JAN)
    assert book_for(outlet).find(type="TTS", model="nova", unit="characters", at=FEB) == default_exact
    assert book_for(outlet).find(type="TTS", model="alloy", unit="characters", at=FEB) == default_any

    outlet_any = PriceFactory(outlet=outlet, type="TTS", unit="characters", effective_from=JAN)
    assert book_for(outlet).find(type="TTS", model="nova", unit="characters", at=FEB) == outlet_any
    outlet_exact = PriceFactory(outlet=outlet, type="TTS", unit="characters", model="nova", effective_from=JAN)
    assert book_for(outlet).find(type="TTS", model="nova", unit="characters", at=FEB) == outlet_exact
    assert book_for(OutletFactory()).find(type="TTS", model="nova", unit="characters", at=FEB) == default_exact


@pytest.mark.django_db
def test_the_version_in_effect_at_the_time_is_found_not_the_latest():
    outlet = OutletFactory()
    january = PriceFactory(type="TTS", unit="characters", effective_from=JAN)
    march = PriceFactory(type="TTS", unit="characters", effective_from=MAR)

    book = book_for(outlet)

    assert book.find(type="TTS", model="", unit="characters", at=FEB) == january
    assert book.find(type="TTS", model="", unit="characters", at=MAR) == march
    assert book.find(type="TTS", model="", unit="characters", at=datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert book.find(type="TTS", model="", unit="seconds", at=FEB) is None


@pytest.mark.django_db
def test_a_batch_s_prices_load_in_one_query(django_assert_num_queries):
    outlet = OutletFactory()
    PriceFactory(type="TTS", unit="characters", effective_from=JAN)
    PriceFactory(type="STT", unit="seconds", effective_from=JAN)
    keys = {("TTS", "nova", "characters"), ("STT", "", "seconds"), ("TELEPHONY", "", "seconds")}
    with django_assert_num_queries(1):
        book = PriceBook.load(outlet_id=outlet.pk, keys=keys, until=MAR)
    assert book.find(type="STT", model="", unit="seconds", at=FEB) is not None
