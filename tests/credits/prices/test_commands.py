from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from credits.prices.models import Price
from tests.factories import OutletFactory

pytestmark = pytest.mark.django_db
HEADER = "outlet,type,model,unit,credits_per_unit,cost_usd_per_unit,increment,minimum,effective_from\n"


def run(path):
    out, err = StringIO(), StringIO()
    call_command("import_prices", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_every_row_is_stored_with_its_outlet_by_name_or_id_or_as_a_default(tmp_path):
    outlet, other = OutletFactory(name="Harbour"), OutletFactory()
    path = tmp_path / "prices.csv"
    path.write_text(
        HEADER
        + ",TELEPHONY,,seconds,0.02,0.0001,30,60,2026-01-01T00:00:00Z\n"
        + "harbour,TTS,nova,characters,0.001,0.000015,,,2026-01-01T00:00:00+01:00\n"
        + f"{other.pk},TTS,,characters,0.002,0.00002,1,0,2026-01-01T00:00:00Z\n"
    )

    out, _ = run(path)

    assert out == f"Stored 3 price versions from {path}.\n"
    assert set(Price.objects.values_list("outlet", "type", "increment")) == {
        (None, "TELEPHONY", 30), (outlet.pk, "TTS", 1), (other.pk, "TTS", 1),
    }


def test_one_bad_row_stores_nothing_and_every_bad_row_is_named_by_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(
        HEADER
        + ",TELEPHONY,,seconds,0.02,0.0001,30,60,2026-01-01T00:00:00Z\n"
        + "Nowhere,TTS,,characters,0.001,0.000015,,,2026-01-01T00:00:00Z\n"
        + ",TTS,,characters,-1,0.000015,0,,2026-01-01T00:00:00Z\n"
        + ",STT,,seconds,0.001,0.000015,,,yesterday\n"
        + ",TELEPHONY,,seconds,0.03,0.0001,30,60,2026-01-01T00:00:00Z\n"
    )

    with pytest.raises(CommandError, match="4 bad rows"):
        run(path)

    assert not Price.objects.exists()


def test_the_bad_lines_are_written_one_a_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(HEADER + ",TTS,,characters,-1,0,1,0,2026-01-01T00:00:00Z\n,STT,,seconds,1,0,1,0,nope\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_prices", str(path), stderr=err)
    lines = err.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 3"]
    assert "credits_per_unit" in lines[0] and "effective_from" in lines[1]


def test_a_wrong_header_fails_in_one_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("type,unit\nTTS,characters\n")
    with pytest.raises(CommandError, match="must name the columns"):
        run(path)
