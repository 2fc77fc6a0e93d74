import io
from decimal import Decimal

import pytest
from rest_framework.exceptions import ParseError

from config.api.parsers import ApiJSONParser


def parse(body: bytes):
    return ApiJSONParser().parse(io.BytesIO(body))


def test_fractions_are_decimals_and_whole_numbers_ints():
    assert parse(b'{"credits": 0.1, "count": 3}') == {"credits": Decimal("0.1"), "count": 3}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_refused(constant):
    with pytest.raises(ParseError, match="not a JSON number"):
        parse(b'{"meta": {"x": ' + constant + b"}}")


def test_nesting_deeper_than_the_decoder_goes_is_a_parse_error_not_a_crash():
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(b"[" * 100_000 + b"]" * 100_000)


def test_bytes_that_are_not_utf8_are_a_parse_error():
    with pytest.raises(ParseError):
        parse(b'{"a": "\xff"}')
