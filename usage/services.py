"""Ingestion: one service behind the API, the import command and the demo seed.

A batch is validated whole before anything is written (plain Python over dicts and one
query for the agents: no per-field serializer round), then stored in one transaction:
new records only (`ON CONFLICT DO NOTHING` on the outlet's event ids), one CONSUME entry
per agent for the credits of the records actually stored, and the touched (outlet, hour)
buckets marked dirty for the rollups.
"""

import functools
import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from analytics.services import buckets_mark_dirty
from config.errors import DomainError
from credits.models import Agent, Outlet
from credits.services import Actor, credits_consume
from usage.models import ID_LENGTH, RELATION_IDS, TYPE_PATTERN, Interaction, UsageRecord

MAX_META_BYTES = 8192
FUTURE_TOLERANCE = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
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
# Column order of the rows the writers insert.
COLUMNS = (
    "outlet_id", "agent_id", "event_id", "interaction_id", "type", "model", "provider", "product", "voice",
    "api_key_label", "end_user_id", "count", "unit", "credits", "cost_usd", "latency_ms", *RELATION_IDS,
    "meta", "ingest_batch_id", "occurred_at", "created_at",
)


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


def _meta(value, errors: dict) -> str:
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        errors["meta"] = "Must be an object."
        return "{}"
    # Bodies are parsed with Decimal numbers; meta is free-form, so its numbers go back to JSON numbers.
    encoded = json.dumps(value, separators=(",", ":"), default=float)
    if len(encoded.encode()) > MAX_META_BYTES:
        errors["meta"] = f"At most {MAX_META_BYTES} bytes of JSON."
    return encoded


def _validate_record(raw, now: datetime) -> tuple[dict, dict]:
    """One record as a row dict, and its errors by field (empty when valid)."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        return {}, {"record": "Must be an object."}
    unknown = raw.keys() - RECORD_FIELDS
    if unknown:
        errors["record"] = f"Unknown fields: {', '.join(sorted(map(str, unknown))[:5])}."
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= ID_LENGTH:
        errors["event_id"] = f"Required: a string of 1 to {ID_LENGTH} characters."
    record_type = raw.get("type")
    if not isinstance(record_type, str) or not is_upper_slug(record_type):
        errors["type"] = "Required: an upper-case slug such as CONVERSATION, TTS or TELEPHONY (at most 32)."
    unit = raw.get("unit")
    if unit not in UNITS:
        errors["unit"] = f"Required: one of {', '.join(sorted(UNITS))}."
    row = {**TEXT_DEFAULTS, "event_id": event_id, "type": record_type, "unit": unit}
    for name in raw.keys() & TEXT_FIELDS.keys():
        value = raw[name]
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > TEXT_FIELDS[name]:
            errors[name] = f"Must be a string of at most {TEXT_FIELDS[name]} characters."
        else:
            row[name] = value
    for name, places, digits in AMOUNT_FIELDS:
        row[name] = _amount(raw.get(name), errors, name, places, digits)
    latency = raw.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency < 2**31):
        errors["latency_ms"] = "Must be a whole number of milliseconds, 0 or more."
    row["latency_ms"] = latency
    row["meta"] = _meta(raw.get("meta"), errors)
    row["occurred_at"] = parse_timestamp(raw.get("occurred_at"), errors, "occurred_at", now)
    if not _read_agent_reference(raw, row, errors) and "agent_id" not in errors:
        errors["agent_id"] = "Required: agent_id (UUID) or agent_external_id."
    return row, errors


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
    if not isinstance(external_id, str) or not external_id:
        errors["agent_id"] = "agent_external_id must be a non-empty string."
    else:
        values["agent_key"] = ("external_id", external_id)
    return True


def attach_agents(outlet: Outlet, items: list[tuple[dict, dict]]) -> None:
    """Replaces each item's agent reference by the outlet's agent id, in one query; unknown agents are errors."""
    keys = {values["agent_key"] for values, _ in items if "agent_key" in values}
    ids = {value for kind, value in keys if kind == "id"}
    external_ids = {value for kind, value in keys if kind == "external_id"}
    found = {}
    agents = Agent.objects.filter(outlet=outlet).filter(Q(pk__in=ids) | Q(external_id__in=external_ids))
    for pk, external_id in agents.values_list("pk", "external_id"):
        found[("id", pk)] = pk
        found[("external_id", external_id)] = pk
    for values, errors in items:
        if "agent_key" in values:
            values["agent_id"] = found.get(values.pop("agent_key"))
            if values["agent_id"] is None:
                errors["agent_id"] = "No such agent in this outlet."


def validate_records(outlet: Outlet, records: list) -> tuple[list[dict], list[dict]]:
    """Rows ready to store and the per-item errors; nothing is written."""
    now = timezone.now()
    items = [_validate_record(raw, now) for raw in records]
    attach_agents(outlet, items)
    errors = [
        {"index": index, "event_id": row.get("event_id"), "errors": {name: [message] for name, message in found.items()}}
        for index, (row, found) in enumerate(items)
        if found
    ]
    return [row for row, _ in items], errors


def _insert_postgresql(rows: list[tuple]) -> list[tuple[int, str]]:
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        # A session-local table: COPY into it is cheap (no WAL), and the insert from it is one statement.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS usage_ingest_staging AS SELECT {columns} FROM usage_usagerecord WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY usage_ingest_staging ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO usage_usagerecord ({columns}) SELECT {columns} FROM usage_ingest_staging "
            f"ON CONFLICT (outlet_id, event_id) DO NOTHING RETURNING id, event_id"
        )
        inserted = cursor.fetchall()
        # DELETE, not TRUNCATE: truncating gives the table a new file each batch, churning the catalog.
        cursor.execute("DELETE FROM usage_ingest_staging")
        return inserted


SQLITE_ROWS_PER_STATEMENT = 500  # 500 rows x 33 columns stays under SQLite's 32766 parameters


def _insert_sqlite(rows: list[tuple]) -> list[tuple[int, str]]:
    fields = [UsageRecord._meta.get_field(name) for name in COLUMNS]
    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    inserted = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
            chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
            params = [
                value if column == "meta" else model_field.get_db_prep_value(value, connection)
                for row in chunk
                for column, model_field, value in zip(COLUMNS, fields, row)
            ]
            cursor.execute(
                f"INSERT INTO usage_usagerecord ({', '.join(COLUMNS)}) VALUES "
                + ", ".join([placeholders] * len(chunk))
                + " ON CONFLICT (outlet_id, event_id) DO NOTHING RETURNING id, event_id",
                params,
            )
            inserted.extend(cursor.fetchall())
    return inserted


def store_records(*, outlet: Outlet, rows: list[dict], actor: Actor) -> IngestResult:
    """Stores validated rows: each event once, one debit per agent, dirty hours marked; all or nothing."""
    batch_id = uuid.uuid4()
    now = timezone.now()
    unique_rows: dict[str, dict] = {}
    for row in rows:
        unique_rows.setdefault(row["event_id"], row)
    values = [
        (outlet.pk, row["agent_id"], row["event_id"], row["interaction_id"], row["type"], row["model"], row["provider"],
         row["product"], row["voice"], row["api_key_label"], row["end_user_id"], row["count"], row["unit"],
         row["credits"], row["cost_usd"], row["latency_ms"], *(row[name] for name in RELATION_IDS), row["meta"],
         batch_id, row["occurred_at"], now)
        for row in unique_rows.values()
    ]
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_sqlite
    with transaction.atomic():
        inserted = insert(values) if values else []
        stored = [unique_rows[event_id] for _, event_id in inserted]
        debits: dict[UUID, Decimal] = defaultdict(Decimal)
        for row in stored:
            debits[row["agent_id"]] += row["credits"]
        credits_consume(debits=debits, ingest_batch_id=batch_id, actor=actor, reason=f"Usage batch {batch_id}")
        buckets_mark_dirty(
            outlet_id=outlet.pk, hours={row["occurred_at"].replace(minute=0, second=0, microsecond=0) for row in stored}
        )
    # The first occurrence of a stored event is the one stored; every other occurrence is a duplicate.
    first_occurrences = {event_id for _, event_id in inserted}
    duplicate_event_ids = []
    for row in rows:
        if row["event_id"] in first_occurrences:
            first_occurrences.discard(row["event_id"])
        else:
            duplicate_event_ids.append(row["event_id"])
    return IngestResult(
        batch_id=batch_id,
        accepted=len(inserted),
        duplicates=len(rows) - len(inserted),
        ids=[pk for pk, _ in inserted],
        duplicate_event_ids=duplicate_event_ids,
    )


def ingest_records(*, outlet: Outlet, records: list, actor: Actor) -> IngestResult:
    """Validates the whole batch, then stores it; a batch with any bad record stores nothing."""
    rows, errors = validate_records(outlet, records)
    if errors:
        raise DomainError(
            f"{len(errors)} of {len(records)} records are invalid; nothing was stored.", errors={"records": errors}
        )
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
    values["interaction_id"] = interaction_id
    for name, allowed in (("status", STATUSES), ("sentiment", SENTIMENTS)):
        if name in raw:
            if raw[name] not in allowed:
                errors[name] = f"Must be one of {', '.join(sorted(allowed))}."
            values[name] = raw[name]
    for name, limit in (("channel", 32), ("end_user_id", ID_LENGTH)):
        if name in raw:
            if not isinstance(raw[name], str) or len(raw[name]) > limit:
                errors[name] = f"Must be a string of at most {limit} characters."
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
        values["metadata"] = json.loads(_meta(raw["metadata"], errors))
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
        ids = {values["interaction_id"] for values, _ in items if values.get("interaction_id")}
        current = {
            interaction.interaction_id: interaction
            for interaction in Interaction.objects.select_for_update().filter(outlet=outlet, interaction_id__in=ids)
        }
        existing_ids = set(current)
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
    return UpsertResult(created=len(created), updated=len(updated), interaction_ids=list(current))
