"""Ingestion: one service behind the API, the import command and the demo seed.

A batch is validated whole before anything is written (plain Python over dicts and one
query for the agents: no per-field serializer round), then stored in one transaction:
new records only (`ON CONFLICT DO NOTHING` on the outlet's event ids), one CONSUME entry
per agent for the credits of the records actually stored, and the touched (outlet, hour)
buckets marked dirty for the rollups.
"""

import functools
import json
import operator
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.api.dates import EARLIEST_DAY
from config.errors import DomainError
from credits.models import Agent, Outlet
from credits.services import Actor, BalanceLimitError, credits_consume
from usage.models import ID_LENGTH, RELATION_IDS, TYPE_PATTERN, Interaction, UsageRecord
from usage.signals import hours_changed

MAX_META_BYTES = 8192
FUTURE_TOLERANCE = timedelta(minutes=10)
EARLIEST = datetime.combine(EARLIEST_DAY, time.min, tzinfo=UTC)
UNITS = frozenset(UsageRecord.Unit.values)
TEXT_FIELDS = {
    "interaction_id": ID_LENGTH, "model": 128, "provider": 64, "product": 128, "voice": 128, "api_key_label": 128,
    "end_user_id": ID_LENGTH, **{name: ID_LENGTH for name in RELATION_IDS},
}
TEXT_DEFAULTS = dict.fromkeys(TEXT_FIELDS, "")
# A batch names the same few agents over and over.
parse_uuid = functools.lru_cache(maxsize=4096)(UUID)
# (field, decimal places, digits before the point)
AMOUNT_FIELDS = (("count", 3, 17), ("credits", 6, 14), ("cost_usd", 8, 12))
RECORD_FIELDS = frozenset(
    {"event_id", "agent_id", "agent_external_id", "type", "unit", "latency_ms", "meta", "occurred_at"}
    | set(TEXT_FIELDS)
    | {name for name, _, _ in AMOUNT_FIELDS}
)
# A checked record is a row: a list [agent_id, event_id, credits, hour, copy_line], `copy_line` holding its
# COPY_COLUMNS as one line of COPY text. A few objects per record, so the import's reader process sends rows
# cheaply and PostgreSQL's COPY takes the text as it is; the other four are what storing reads.
AGENT_ID, EVENT_ID, CREDITS, HOUR, COPY_LINE = range(5)
COPY_COLUMNS = (
    "event_id", "interaction_id", "type", "model", "provider", "product", "voice", "api_key_label", "end_user_id",
    "count", "unit", "credits", "cost_usd", "latency_ms", *RELATION_IDS, "meta", "occurred_at",
)
copy_column_values = operator.itemgetter(*COPY_COLUMNS)
# The same for every row of a batch: given once to the INSERT, not once per row.
BATCH_COLUMNS = ("outlet_id", "ingest_batch_id", "created_at")
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_UNESCAPES = {"t": "\t", "n": "\n", "r": "\r"}
has_copy_escape = re.compile(r"[\\\n\r]").search


@dataclass(frozen=True)
class IngestResult:
    batch_id: UUID
    accepted: int
    duplicates: int
    ids: list[int]
    duplicate_event_ids: list[str] = field(default_factory=list)


is_upper_slug = re.compile(TYPE_PATTERN.replace("^", "\\A").replace("$", "\\Z")).match


def parse_timestamp(value, errors: dict, name: str, now: datetime) -> datetime | None:
    if not isinstance(value, str):
        errors[name] = "Required: an ISO 8601 time with its offset, e.g. 2026-11-21T10:00:00Z."
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors[name] = f"'{value[:40]}' is not an ISO 8601 time."
        return None
    if moment.tzinfo is None:
        errors[name] = "Give the offset (Z or +hh:mm): a time without one is ambiguous."
        return None
    moment = moment.astimezone(UTC)
    if moment > now + FUTURE_TOLERANCE:
        errors[name] = "Is in the future."
    elif moment < EARLIEST:
        errors[name] = "Is before 2000."
    return moment


def _amount(value, errors: dict, name: str, places: int, digits: int) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        errors[name] = "Must be a number."
        return Decimal(0)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        errors[name] = f"'{value}' is not a number."
        return Decimal(0)
    if not amount.is_finite() or amount < 0:
        errors[name] = "Must be 0 or more."
    elif amount.as_tuple().exponent < -places:
        errors[name] = f"At most {places} decimal places."
    elif amount >= 10**digits:
        errors[name] = f"At most {digits} digits before the decimal point."
    return amount


# Bodies are parsed with Decimal numbers; meta is free-form, so its numbers go back to JSON numbers (a finite
# float: jsonb takes no NaN or Infinity). Built once: json.dumps(**options) builds an encoder per call.
encode_meta = json.JSONEncoder(separators=(",", ":"), default=float, allow_nan=False).encode
NUL_MESSAGE = "Must not contain the NUL character (\\u0000)."


def _holds_nul(value) -> bool:
    """Whether a decoded JSON value has a NUL in any key or string (its encoding may only hold an escaped backslash)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _holds_nul(child) for key, child in value.items())
    return isinstance(value, list) and any(_holds_nul(child) for child in value)


def _meta(value, errors: dict, name: str = "meta") -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        errors[name] = "Must be an object."
        return "{}"
    try:
        encoded = encode_meta(value)
    except ValueError:
        errors[name] = "Numbers must be finite: NaN, Infinity and numbers past 1e308 cannot be stored."
        return "{}"
    except RecursionError:
        errors[name] = "Is nested too deeply."
        return "{}"
    if len(encoded.encode()) > MAX_META_BYTES:
        errors[name] = f"At most {MAX_META_BYTES} bytes of JSON."
    elif "\\u0000" in encoded and _holds_nul(value):
        errors[name] = NUL_MESSAGE
    return encoded


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


def _validate_record(raw, now: datetime) -> tuple[list, dict]:
    """One record as a row (its agent reference for agent_id), and its errors by field (empty when valid)."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        return [None, None, None, None, ""], {"record": "Must be an object."}
    unknown = raw.keys() - RECORD_FIELDS
    if unknown:
        errors["record"] = f"Unknown fields: {', '.join(sorted(map(str, unknown))[:5])}."
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= ID_LENGTH:
        errors["event_id"] = f"Required: a string of 1 to {ID_LENGTH} characters."
    elif "\x00" in event_id:
        errors["event_id"] = NUL_MESSAGE
    record_type = raw.get("type")
    if not isinstance(record_type, str) or not is_upper_slug(record_type):
        errors["type"] = "Required: an upper-case slug such as CONVERSATION, TTS or TELEPHONY (at most 32)."
    unit = raw.get("unit")
    if not isinstance(unit, str) or unit not in UNITS:  # a list or an object cannot be looked up in a set
        errors["unit"] = f"Required: one of {', '.join(sorted(UNITS))}."
    values = {**TEXT_DEFAULTS, "event_id": event_id, "type": record_type, "unit": unit}
    for name in raw.keys() & TEXT_FIELDS.keys():
        value = raw[name]
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > TEXT_FIELDS[name]:
            errors[name] = f"Must be a string of at most {TEXT_FIELDS[name]} characters."
        elif "\x00" in value:
            errors[name] = NUL_MESSAGE
        else:
            values[name] = value
    for name, places, digits in AMOUNT_FIELDS:
        values[name] = _amount(raw.get(name), errors, name, places, digits)
    latency = raw.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency < 2**31):
        errors["latency_ms"] = "Must be a whole number of milliseconds, 0 or more."
    values["latency_ms"] = latency
    values["meta"] = _meta(raw.get("meta"), errors)
    values["occurred_at"] = parse_timestamp(raw.get("occurred_at"), errors, "occurred_at", now)
    if not _read_agent_reference(raw, values, errors) and "agent_id" not in errors:
        errors["agent_id"] = "Required: agent_id (UUID) or agent_external_id."
    agent_key = values.get("agent_key")
    if errors:  # never stored: no need to encode it
        return [agent_key, event_id, None, None, ""], errors
    copy_line = copy_text(copy_column_values(values))
    return [agent_key, event_id, values["credits"], _hour(values["occurred_at"]), copy_line], errors


def _read_agent_reference(raw: dict, values: dict, errors: dict) -> bool:
    """Puts the item's agent reference (`agent_id` or `agent_external_id`) in `values["agent_key"]`; False if none."""
    agent_id, external_id = raw.get("agent_id"), raw.get("agent_external_id")
    if agent_id is not None:
        try:
            values["agent_key"] = ("id", agent_id if isinstance(agent_id, UUID) else parse_uuid(str(agent_id)))
        except ValueError:
            errors["agent_id"] = f"'{agent_id}' is not a UUID."
        return True
    if external_id is None:
        return False
    if not isinstance(external_id, str) or not external_id or "\x00" in external_id:
        errors["agent_id"] = "agent_external_id must be a non-empty string without the NUL character."
    else:
        values["agent_key"] = ("external_id", external_id)
    return True


def find_agents(outlet: Outlet, keys: set[tuple[str, object]]) -> dict[tuple[str, object], UUID]:
    """The outlet's agent id for each agent reference (`_read_agent_reference`'s keys) that names one, in one query."""
    ids = {value for kind, value in keys if kind == "id"}
    external_ids = {value for kind, value in keys if kind == "external_id"}
    found = {}
    agents = Agent.objects.filter(outlet=outlet).filter(Q(pk__in=ids) | Q(external_id__in=external_ids))
    for pk, external_id in agents.values_list("pk", "external_id"):
        found[("id", pk)] = pk
        found[("external_id", external_id)] = pk
    return found


def attach_agents(outlet: Outlet, items: list[tuple[dict, dict]]) -> None:
    """Replaces each item's agent reference by the outlet's agent id, in one query; unknown agents are errors."""
    found = find_agents(outlet, {values["agent_key"] for values, _ in items if "agent_key" in values})
    for values, errors in items:
        if "agent_key" in values:
            values["agent_id"] = found.get(values.pop("agent_key"))
            if values["agent_id"] is None:
                errors["agent_id"] = "No such agent in this outlet."


def validate_records(outlet: Outlet, records: list) -> tuple[list[list], list[dict]]:
    """Rows ready to store and the per-item errors; nothing is written."""
    return resolve_records(outlet, check_records(records, timezone.now()))


def check_records(records: list, now: datetime) -> list[tuple[list, dict]]:
    """Each record as a row and its errors by field, agents not yet resolved: plain Python, no database."""
    return [_validate_record(raw, now) for raw in records]


def resolve_records(outlet: Outlet, checked: list[tuple[list, dict]]) -> tuple[list[list], list[dict]]:
    """Puts the outlet's agent ids in `check_records`' rows (one query): rows ready to store and the per-item errors."""
    found = find_agents(outlet, {row[AGENT_ID] for row, _ in checked} - {None})
    for row, errors in checked:
        if row[AGENT_ID] is not None:
            row[AGENT_ID] = found.get(row[AGENT_ID])
            if row[AGENT_ID] is None:
                errors["agent_id"] = "No such agent in this outlet."
    errors = [
        {"index": index, "event_id": row[EVENT_ID], "errors": {name: [message] for name, message in found.items()}}
        for index, (row, found) in enumerate(checked)
        if found
    ]
    return [row for row, _ in checked], errors


def _insert_postgresql(rows: list[list], batch_values: tuple) -> list[tuple[int, str]]:
    columns = ", ".join(("agent_id", *COPY_COLUMNS))
    with connection.cursor() as cursor:
        # A session-local table: COPY into it is cheap (no WAL), and the insert from it is one statement. Emptied
        # in place at each commit: deleted rows would otherwise stay in its file, which every batch scans.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS usage_ingest_staging ON COMMIT DELETE ROWS "
            f"AS SELECT {columns} FROM usage_usagerecord WITH NO DATA"
        )
        # The raw cursor's COPY, wrapped as Django wraps its own: a lost connection is an OperationalError (a 503).
        copy_sql = f"COPY usage_ingest_staging ({columns}) FROM STDIN"
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
            copy.write("".join([f"{row[AGENT_ID]}\t{row[COPY_LINE]}\n" for row in rows]))
        cursor.execute(
            f"INSERT INTO usage_usagerecord ({', '.join(BATCH_COLUMNS)}, {columns}) "
            f"SELECT {', '.join(['%s'] * len(BATCH_COLUMNS))}, {columns} FROM usage_ingest_staging "
            f"ON CONFLICT (outlet_id, event_id) DO NOTHING RETURNING id, event_id",
            batch_values,
        )
        inserted = cursor.fetchall()
        # Still empty for the next batch of the same transaction. DELETE, not TRUNCATE: truncating gives the table
        # a new file each batch, churning the catalog.
        cursor.execute("DELETE FROM usage_ingest_staging")
        return inserted


SQLITE_ROWS_PER_STATEMENT = 500  # 500 rows x 33 columns stays under SQLite's 32766 parameters


def _insert_sqlite(rows: list[list], batch_values: tuple) -> list[tuple[int, str]]:
    columns = (*BATCH_COLUMNS, "agent_id", *COPY_COLUMNS)
    fields = [UsageRecord._meta.get_field(name) for name in columns]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    inserted = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
            params = [
                value if column == "meta" else model_field.get_db_prep_value(value, connection)
                for row in chunk
                for column, model_field, value in zip(
                    columns, fields, (*batch_values, row[AGENT_ID], *from_copy_text(row[COPY_LINE]))
                )
            ]
            cursor.execute(
                f"INSERT INTO usage_usagerecord ({', '.join(columns)}) VALUES "
                + ", ".join([placeholders] * len(chunk))
                + " ON CONFLICT (outlet_id, event_id) DO NOTHING RETURNING id, event_id",
                params,
            )
            inserted.extend(cursor.fetchall())
    return inserted


def store_records(*, outlet: Outlet, rows: list[list], actor: Actor) -> IngestResult:
    """Stores validated rows: each event once, one debit per agent, dirty hours marked; all or nothing."""
    batch_id = uuid.uuid4()
    unique_rows: dict[str, list] = {}
    for row in rows:
        unique_rows.setdefault(row[EVENT_ID], row)
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_sqlite
    with transaction.atomic():
        inserted = insert(list(unique_rows.values()), (outlet.pk, batch_id, timezone.now())) if unique_rows else []
        stored = [unique_rows[event_id] for _, event_id in inserted]
        # Marks first, accounts last: a mark may wait for a rollup build holding its hour, and the accounts
        # (which every ledger write locks) are then held only for the debit itself. Always in this order.
        hours_changed.send(sender=UsageRecord, outlet_id=outlet.pk, hours={row[HOUR] for row in stored})
        debits: dict[UUID, Decimal] = defaultdict(Decimal)
        for row in stored:
            debits[row[AGENT_ID]] += row[CREDITS]
        try:
            credits_consume(debits=debits, ingest_batch_id=batch_id, actor=actor, reason=f"Usage batch {batch_id}")
        except BalanceLimitError as exc:
            raise _balance_limit_error(exc, rows) from None
    # The first occurrence of a stored event is the one stored; every other occurrence is a duplicate.
    first_occurrences = {event_id for _, event_id in inserted}
    duplicate_event_ids = []
    for row in rows:
        if row[EVENT_ID] in first_occurrences:
            first_occurrences.discard(row[EVENT_ID])
        else:
            duplicate_event_ids.append(row[EVENT_ID])
    return IngestResult(
        batch_id=batch_id,
        accepted=len(inserted),
        duplicates=len(rows) - len(inserted),
        ids=[pk for pk, _ in inserted],
        duplicate_event_ids=duplicate_event_ids,
    )


def _balance_limit_error(exc: BalanceLimitError, rows: list[list]) -> DomainError:
    """The batch refused as item errors: each record of an agent whose balance it would take past the limit."""
    [message] = exc.errors["amount"]
    errors = [
        {"index": index, "event_id": row[EVENT_ID], "errors": {"credits": [message]}}
        for index, row in enumerate(rows)
        if row[AGENT_ID] in exc.agent_ids and row[CREDITS] > 0
    ]
    return records_invalid(errors, len(rows))


def records_invalid(errors: list[dict], total: int) -> DomainError:
    """A batch refused for its items' errors: the one answer of ingest, whatever found them."""
    return DomainError(f"{len(errors)} of {total} records are invalid; nothing was stored.", errors={"records": errors})


def _hour(moment: datetime) -> datetime:
    """The UTC hour holding `moment`: the bucket its rollups are built for."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ingest_records(*, outlet: Outlet, records: list, actor: Actor) -> IngestResult:
    """Validates the whole batch, then stores it; a batch with any bad record stores nothing."""
    rows, errors = validate_records(outlet, records)
    if errors:
        raise records_invalid(errors, len(records))
    return store_records(outlet=outlet, rows=rows, actor=actor)


INTERACTION_FIELDS = frozenset(
    {"interaction_id", "agent_id", "agent_external_id", "channel", "status", "started_at", "ended_at",
     "duration_seconds", "sentiment", "end_user_id", "message_count", "metadata"}
)
INTERACTION_MUTABLE = (
    "agent_id", "channel", "status", "started_at", "ended_at", "duration_seconds", "sentiment", "end_user_id",
    "message_count", "metadata",
)
STATUSES = frozenset(Interaction.Status.values)
SENTIMENTS = frozenset(Interaction.Sentiment.values)


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    interaction_ids: list[str]


def _validate_interaction(raw, now: datetime) -> tuple[dict, dict]:
    """The fields an item sets (absent ones are left as they are) and its errors."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        return {}, {"interaction": "Must be an object."}
    unknown = raw.keys() - INTERACTION_FIELDS
    if unknown:
        errors["interaction"] = f"Unknown fields: {', '.join(sorted(map(str, unknown))[:5])}."
    values: dict = {}
    interaction_id = raw.get("interaction_id")
    if not isinstance(interaction_id, str) or not 0 < len(interaction_id) <= ID_LENGTH:
        errors["interaction_id"] = f"Required: a string of 1 to {ID_LENGTH} characters."
    elif "\x00" in interaction_id:
        errors["interaction_id"] = NUL_MESSAGE
    values["interaction_id"] = interaction_id
    for name, allowed in (("status", STATUSES), ("sentiment", SENTIMENTS)):
        if name in raw:
            if not isinstance(raw[name], str) or raw[name] not in allowed:
                errors[name] = f"Must be one of {', '.join(sorted(allowed))}."
            values[name] = raw[name]
    for name, limit in (("channel", 32), ("end_user_id", ID_LENGTH)):
        if name in raw:
            if not isinstance(raw[name], str) or len(raw[name]) > limit:
                errors[name] = f"Must be a string of at most {limit} characters."
            elif "\x00" in raw[name]:
                errors[name] = NUL_MESSAGE
            values[name] = raw[name]
    for name in ("started_at", "ended_at"):
        if name in raw:
            values[name] = None if raw[name] is None and name == "ended_at" else parse_timestamp(raw[name], errors, name, now)
    if "duration_seconds" in raw:
        values["duration_seconds"] = _amount(raw["duration_seconds"], errors, "duration_seconds", 3, 9)
    if "message_count" in raw:
        count = raw["message_count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 2**31:
            errors["message_count"] = "Must be a whole number, 0 or more."
        values["message_count"] = count
    if "metadata" in raw:
        values["metadata"] = json.loads(_meta(raw["metadata"], errors, "metadata"))
    _read_agent_reference(raw, values, errors)  # optional: an update may leave the agent as it is
    return values, errors


def _apply(interaction: Interaction, values: dict, errors: dict) -> None:
    """Moves an interaction to the given values; status may only leave `in_progress`."""
    new_status = values.get("status", interaction.status)
    if new_status != interaction.status and interaction.status != Interaction.Status.IN_PROGRESS:
        errors["status"] = f"Is {interaction.status} already: status only moves forward from in_progress."
    for name, value in values.items():
        if name != "interaction_id":
            setattr(interaction, name, value)
    if interaction.started_at is None:
        errors["started_at"] = "Required for a new interaction."
    elif interaction.ended_at is not None and interaction.ended_at < interaction.started_at:
        errors["ended_at"] = "Is before started_at."
    if interaction.agent_id is None:
        errors.setdefault("agent_id", "Required for a new interaction: agent_id or agent_external_id.")


def upsert_interactions(*, outlet: Outlet, interactions: list) -> UpsertResult:
    """Creates or updates interactions by `interaction_id`; any bad item stores nothing."""
    try:
        return _upsert_interactions(outlet=outlet, interactions=interactions)
    except IntegrityError:
        # Another request created one of these at the same moment: now it exists, and is locked and checked.
        return _upsert_interactions(outlet=outlet, interactions=interactions)


def _upsert_interactions(*, outlet: Outlet, interactions: list) -> UpsertResult:
    now = timezone.now()
    items = [_validate_interaction(raw, now) for raw in interactions]
    attach_agents(outlet, items)
    with transaction.atomic():
        ids = {values["interaction_id"] for values, errors in items if not errors}  # only valid items are applied
        current = {
            interaction.interaction_id: interaction
            for interaction in Interaction.objects.select_for_update().filter(outlet=outlet, interaction_id__in=ids)
        }
        existing_ids = set(current)
        # An interaction counts in the rollup of the hour it started: a move changes two hours.
        touched_hours = {_hour(interaction.started_at) for interaction in current.values()}
        for values, errors in items:
            if errors:
                continue
            interaction = current.get(values["interaction_id"]) or Interaction(
                outlet=outlet, interaction_id=values["interaction_id"], started_at=None
            )
            _apply(interaction, values, errors)
            current[interaction.interaction_id] = interaction
        failures = [
            {"index": index, "interaction_id": values.get("interaction_id"), "errors": {k: [v] for k, v in errors.items()}}
            for index, (values, errors) in enumerate(items)
            if errors
        ]
        if failures:
            raise DomainError(
                f"{len(failures)} of {len(items)} interactions are invalid; nothing was stored.",
                errors={"interactions": failures},
            )
        created = [interaction for key, interaction in current.items() if key not in existing_ids]
        updated = [interaction for key, interaction in current.items() if key in existing_ids]
        Interaction.objects.bulk_create(created)
        for interaction in updated:
            interaction.updated_at = now
        Interaction.objects.bulk_update(updated, [*INTERACTION_MUTABLE, "updated_at"])
        touched_hours.update(_hour(interaction.started_at) for interaction in current.values())
        hours_changed.send(sender=Interaction, outlet_id=outlet.pk, hours=touched_hours)
    return UpsertResult(created=len(created), updated=len(updated), interaction_ids=list(current))
