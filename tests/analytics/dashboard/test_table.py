"""A dashboard table: the page shows its first rows formatted for reading; the CSV has every row and column, exact."""

from decimal import Decimal

from analytics.dashboard.table import Cell, Column, Table

COLUMNS = [
    Column("agent", "Agent", link="url"), Column("credits", "Credits", "credits"), Column("cost", "Spend", "usd"),
    Column("runway", "Runway", "days", empty="no burn"), Column("agent_id", "Agent id", csv_only=True),
]
ROWS = [
    {"agent": "<first>", "credits": Decimal("1234.5"), "cost": Decimal("0.01234567"), "runway": None,
     "agent_id": "a1", "url": "/a1/"},
    {"agent": "second", "credits": Decimal("2"), "cost": Decimal("12"), "runway": Decimal("3.26"), "agent_id": "a2",
     "url": "/a2/"},
    {"agent": "third", "credits": Decimal("0"), "cost": Decimal("0E-8"), "runway": Decimal("0"), "agent_id": "a3",
     "url": "/a3/"},
]


def table(**options) -> Table:
    return Table("agents", "Agents", COLUMNS, ROWS, **options)


def test_the_page_shows_the_first_rows_formatted_with_links_and_without_csv_only_columns():
    shown = table(shown=2, row_class=lambda row: "ll-danger" if row["runway"] is None else "")

    assert [column.key for column in shown.page_columns] == ["agent", "credits", "cost", "runway"]
    assert shown.display_rows() == [
        {"class": "ll-danger", "cells": [
            Cell("<first>", "/a1/", False, "agent"), Cell("1,234.50", None, True, "credits"), Cell("$0.0123", None, True, "cost"),
            Cell("no burn", None, True, "runway"),
        ]},
        {"class": "", "cells": [
            Cell("second", "/a2/", False, "agent"), Cell("2.00", None, True, "credits"), Cell("$12.00", None, True, "cost"),
            Cell("3.3", None, True, "runway"),
        ]},
    ]
    assert shown.hidden == 1


def test_a_table_without_a_limit_shows_every_row_and_hides_none():
    assert len(table().display_rows()) == 3 and table().hidden == 0
    assert table(shown=10).hidden == 0


def test_the_csv_has_every_row_and_column_with_exact_amounts():
    lines = list(table(shown=1).csv_lines())

    assert lines == [
        "agent,credits,cost,runway,agent_id\r\n",
        "<first>,1234.500000,0.01234567,,a1\r\n",
        "second,2.000000,12.00000000,3.26,a2\r\n",
        "third,0.000000,0.00000000,0.00,a3\r\n",  # never an exponent
    ]
