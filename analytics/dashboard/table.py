"""A table of the dashboard: its rows are the questions' values, formatted for the page or streamed as CSV."""

from collections.abc import Callable
from dataclasses import dataclass, field

from analytics.dashboard.formats import CSV, DISPLAY, NUMERIC
from config.api.csv import dict_csv_lines


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"
    link: str | None = None  # the row key holding a URL for this cell (the page only)
    empty: str = "—"  # shown for None
    csv_only: bool = False  # ids: in the download, not on the page

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


@dataclass(frozen=True)
class Cell:
    text: str
    url: str | None
    numeric: bool
    key: str  # the column's, for the stylesheet (which columns a narrow screen drops)


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict]
    shown: int | None = None  # the page shows the first `shown` rows; the CSV has all
    empty: str = "Nothing in this range."
    csv_url: str = ""
    row_class: Callable[[dict], str] = field(default=lambda row: "")

    @property
    def page_columns(self) -> list[Column]:
        return [column for column in self.columns if not column.csv_only]

    def display_rows(self) -> list[dict]:
        rows = self.rows[: self.shown] if self.shown else self.rows
        return [
            {
                "class": self.row_class(row),
                "cells": [
                    Cell(
                        column.empty if row.get(column.key) is None else DISPLAY[column.kind](row[column.key]),
                        row.get(column.link) if column.link else None,
                        column.numeric,
                        column.key,
                    )
                    for column in self.page_columns
                ],
            }
            for row in rows
        ]

    @property
    def hidden(self) -> int:
        return max(0, len(self.rows) - self.shown) if self.shown else 0

    def csv_lines(self):
        def value(column: Column, row: dict):
            raw = row.get(column.key)
            return None if raw is None else CSV.get(column.kind, str)(raw)

        rows = ({column.key: value(column, row) for column in self.columns} for row in self.rows)
        return dict_csv_lines(rows, [column.key for column in self.columns])
