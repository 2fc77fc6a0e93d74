import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from config.api.envelope import EnvelopeJSONRenderer

json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(),
        st.floats(allow_nan=False, allow_infinity=False), st.decimals(allow_nan=False, allow_infinity=False),
        st.uuids(), st.dates(), st.datetimes(timezones=st.just(UTC)),
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=20,
)


def context(status: int = 200) -> dict:
    return {"response": Response(status=status)}


@given(data=st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_the_json_equals_what_drf_writes(data):
    ours = EnvelopeJSONRenderer().render(data, "application/json", context())
    drf = JSONRenderer().render({"success": True, **data} if "success" not in data else data, "application/json", context())

    assert json.loads(ours) == json.loads(drf)


def test_times_uuids_and_decimals_are_written_as_drf_writes_them():
    data = {
        "at": datetime(2026, 3, 8, 1, 30, tzinfo=UTC), "day": date(2026, 3, 8), "id": UUID(int=1), "amount": Decimal("1.50"),
    }

    assert EnvelopeJSONRenderer().render(data, "application/json", context()) == JSONRenderer().render(
        {"success": True, **data}, "application/json", context()
    )


def test_line_and_paragraph_separators_are_escaped_as_drf_escapes_them():
    rendered = EnvelopeJSONRenderer().render({"name": "a\u2028b\u2029c"}, "application/json", context())

    assert rendered == b'{"success":true,"name":"a\\u2028b\\u2029c"}'


def test_an_error_payload_gets_no_success_flag():
    assert EnvelopeJSONRenderer().render({"code": "bad"}, "application/json", context(400)) == b'{"code":"bad"}'


def test_an_integer_beyond_64_bits_and_an_indented_answer_are_written_by_drf():
    huge = {"count": 2**70}
    indented = EnvelopeJSONRenderer().render({"a": 1}, "application/json; indent=2", context())

    assert json.loads(EnvelopeJSONRenderer().render(huge, "application/json", context())) == {"success": True, **huge}
    assert indented == JSONRenderer().render({"success": True, "a": 1}, "application/json; indent=2", context())


def test_nothing_renders_as_an_empty_body():
    assert EnvelopeJSONRenderer().render(None, "application/json", context()) == b""
