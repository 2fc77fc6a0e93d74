"""A checked usage record as a row, and its stored columns as one line of PostgreSQL COPY text.

A checked record is a list [agent_id, event_id, credits, occurred_at, copy_line, unpriced, hold], `copy_line`
holding its COPY_COLUMNS as one line of COPY text. A few objects per record, so the import's reader process sends rows
cheaply and PostgreSQL's COPY takes the text as it is; the others are what storing reads. `unpriced` is None,
or for a record that omits `credits` or `cost_usd` its column values (a list) and which of the two it omits:
its copy line and credits are then written once the price book has priced it. `hold` is None, or for a record
that names a hold or an interaction (hold id or None, interaction id): the hold it captures is found when resolved,
and written in the copy line's last column, `hold_id`.
"""

import operator
import re

from usage.models import RELATION_IDS

AGENT_ID, EVENT_ID, CREDITS, OCCURRED_AT, COPY_LINE, UNPRICED, HOLD = range(7)
COPY_COLUMNS = (
    "event_id", "interaction_id", "type", "model", "provider", "product", "voice", "api_key_label", "end_user_id",
    "count", "unit", "credits", "cost_usd", "price_id", "latency_ms", *RELATION_IDS, "meta", "occurred_at", "hold_id",
)
copy_column_values = operator.itemgetter(*COPY_COLUMNS)
# Where pricing reads and writes an unpriced record's column values.
TYPE_COLUMN, MODEL_COLUMN, UNIT_COLUMN, COUNT_COLUMN, CREDITS_COLUMN, COST_COLUMN, PRICE_COLUMN, OCCURRED_COLUMN = map(
    COPY_COLUMNS.index, ("type", "model", "unit", "count", "credits", "cost_usd", "price_id", "occurred_at")
)
NULL_TEXT = "\\N"  # COPY text's NULL
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r"}
has_copy_escape = re.compile(r"[\\\n\r]").search


def with_hold(copy_line: str, hold_id) -> str:
    """The copy line with its last column, hold_id, set (it is \\N until a record's hold is found)."""
    return f"{copy_line.removesuffix(NULL_TEXT)}{hold_id}"


def copy_text(values: tuple) -> str:
    """Values as one line of COPY text, without its newline: tab-separated, None as \\N, special characters escaped."""
    line = "\t".join(["\\N" if value is None else str(value) for value in values])
    if line.count("\t") >= len(values) or has_copy_escape(line):  # rare: a value holds a tab, newline or backslash
        line = "\t".join(["\\N" if value is None else str(value).translate(COPY_ESCAPES) for value in values])
    return line


def from_copy_text(line: str) -> list[str | None]:
    """The values of a `copy_text` line, as text (None for \\N)."""
    return [None if text == "\\N" else _copy_unescape(text) if "\\" in text else text for text in line.split("\t")]


def _copy_unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: COPY_UNESCAPES.get(match[1], match[1]), text)
