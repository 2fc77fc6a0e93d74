"""A checked record's stored columns as one line of COPY text, and back."""

import pytest

from usage.rows import copy_text, from_copy_text


@pytest.mark.parametrize(
    "values",
    [
        ("plain", "42", None),
        ("a\ttab", "a\nnewline", "a\rreturn"),
        ("a \\ backslash", "\\N as text", "\\t"),
        ("", None, "ünïcödé ✓"),
    ],
)
def test_a_copy_line_reads_back_as_the_values_it_was_made_of(values):
    line = copy_text(values)

    assert "\n" not in line and line.count("\t") == len(values) - 1
    assert from_copy_text(line) == [None if value is None else str(value) for value in values]


def test_none_is_copys_null_marker_and_plain_values_are_not_escaped():
    assert copy_text((None, "x", 3)) == "\\N\tx\t3"
