"""Ingestion: one service behind the API, the import command and the demo seed.

A batch is validated whole before anything is written (plain Python over dicts and one
query for the agents: no per-field serializer round), then stored in one transaction:
new records only (`ON CONFLICT DO NOTHING` on the outlet's event ids), one CONSUME entry
per agent for the credits of the records actually stored (taking effect at the agent's latest
record), and the touched (outlet, hour) buckets marked dirty for the rollups.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from credits.holds.models import CreditHold, live_holds
from credits.holds.services import holds_capture, holds_release_for_calls
from credits.models import Agent, Outlet
from credits.prices.book import PRICE_NOT_FOUND, PriceBook, charge
from credits.services import Actor, BalanceLimitError, credits_consume
from usage.models import Interaction, UsageRecord
from usage.rows import (
    AGENT_ID,
    COPY_COLUMNS,
    COPY_LINE,
    COST_COLUMN,
    COUNT_COLUMN,
    CREDITS,
    CREDITS_COLUMN,
    EVENT_ID,
    HOLD,
    MODEL_COLUMN,
    OCCURRED_AT,
    PRICE_COLUMN,
    TYPE_COLUMN,
    UNIT_COLUMN,
    UNPRICED,
    copy_text,
    from_copy_text,
    with_hold,
)
from usage.signals import hours_changed
from usage.validation import check_interaction, check_records, hour_start

# The same for every row of a batch: given once to the INSERT, not once per row.
BATCH_COLUMNS = ("outlet_id", "ingest_batch_id", "created_at")


@dataclass(frozen=True)
class IngestResult:
    batch_id: UUID
    accepted: int
    duplicates: int
    ids: list[int]
    duplicate_event_ids: list[str] = field(default_factory=list)


def find_agents(outlet: Outlet, keys: set[tuple[str, object]]) -> dict[tuple[str, object], UUID]:
    """The outlet's agent id for each agent reference (`usage.validation`'s agent keys) that names one, in one query."""
    ids = {value for kind, value in keys if kind == "id"}
    external_ids = {value for kind, value in keys if kind == "external_id"}
    found = {}
    agents = Agent.objects.filter(outlet=outlet).filter(Q(pk__in=ids) | Q(external_id__in=external_ids))
    for pk, external_id in agents.values_list("pk", "external_id"):
        found[("id", pk)] = pk
        found[("external_id", external_id)] = pk
    return found


def resolve_agents(outlet: Outlet, references: list[tuple[tuple | None, dict]]) -> list[UUID | None]:
    """The outlet's agent id for each (agent reference, errors) pair, in one query; an unknown agent is an error."""
    found = find_agents(outlet, {reference for reference, _ in references} - {None})
    agent_ids = []
    for reference, errors in references:
        agent_id = None if reference is None else found.get(reference)
        if reference is not None and agent_id is None:
            errors["agent_id"] = "No such agent in this outlet."
        agent_ids.append(agent_id)
    return agent_ids


def validate_records(outlet: Outlet, records: list) -> tuple[list[list], list[dict]]:
    """Rows ready to store and the per-item errors; nothing is written."""
    return resolve_records(outlet, check_records(records, timezone.now()))


def resolve_records(outlet: Outlet, checked: list[tuple[list, dict]]) -> tuple[list[list], list[dict]]:
    """Puts the outlet's agent ids in `check_records`' rows (one query): rows ready to store and the per-item errors."""
    agent_ids = resolve_agents(outlet, [(row[AGENT_ID], errors) for row, errors in checked])
    for (row, _), agent_id in zip(checked, agent_ids):
        row[AGENT_ID] = agent_id
    price_records(outlet, [(row, found) for row, found in checked if row[UNPRICED] is not None and not found])
    attach_holds(outlet, [(row, found) for row, found in checked if row[HOLD] is not None and not found])
    errors = [
        {
            "index": index,
            "event_id": row[EVENT_ID],
            **({"code": PRICE_NOT_FOUND} if "price" in found else {}),
            "errors": {name: [message] for name, message in found.items()},
        }
        for index, (row, found) in enumerate(checked)
        if found
    ]
    return [row for row, _ in checked], errors


def price_records(outlet: Outlet, unpriced: list[tuple[list, dict]]) -> None:
    """Fills the credits and cost the valid rows omit from the price book (one query), keeping its version's id.

    A row the book has no price for gets a `price` error naming its (type, model, unit).
    """
    if not unpriced:
        return
    columns = [row[UNPRICED][0] for row, _ in unpriced]
    keys = {(values[TYPE_COLUMN], values[MODEL_COLUMN], values[UNIT_COLUMN]) for values in columns}
    book = PriceBook.load(outlet_id=outlet.pk, keys=keys, until=max(row[OCCURRED_AT] for row, _ in unpriced))
    for row, errors in unpriced:
        values, credits_omitted, cost_omitted = row[UNPRICED]
        record_type, model, unit = values[TYPE_COLUMN], values[MODEL_COLUMN], values[UNIT_COLUMN]
        price = book.find(type=record_type, model=model, unit=unit, at=row[OCCURRED_AT])
        if price is None:
            errors["price"] = (
                f"No price for ({record_type}, {model or 'any model'}, {unit}) in effect at its occurred_at: "
                "send credits and cost_usd, or add the price to the book."
            )
            continue
        try:
            priced = charge(price, values[COUNT_COLUMN])
        except OverflowError as exc:
            errors["count"] = str(exc)
            continue
        if credits_omitted:
            values[CREDITS_COLUMN] = priced.credits
        if cost_omitted:
            values[COST_COLUMN] = priced.cost_usd
        values[PRICE_COLUMN] = priced.price_id
        row[CREDITS], row[COPY_LINE] = values[CREDITS_COLUMN], copy_text(values)


def attach_holds(outlet: Outlet, holding: list[tuple[list, dict]]) -> None:
    """Names each record's hold, in one query: the hold it names (its outlet's and its agent's, live or not: late
    usage still counts), else its agent's live hold whose reference is the record's interaction."""
    if not holding:
        return
    now = timezone.now()
    named = {row[HOLD][0] for row, _ in holding} - {None}
    calls = {(row[AGENT_ID], row[HOLD][1]) for row, _ in holding if row[HOLD][0] is None}
    holds = CreditHold.objects.filter(outlet=outlet).filter(
        Q(pk__in=named)
        | Q(live_holds(now), account_id__in={agent_id for agent_id, _ in calls}, reference__in={call for _, call in calls})
    )
    owners, live_by_call = {}, {}
    for hold_id, account_id, reference, expires_at, status in holds.values_list("pk", "account", "reference", "expires_at", "status"):
        owners[hold_id] = account_id
        if reference and status == CreditHold.Status.ACTIVE and expires_at > now:
            live_by_call[(account_id, reference)] = hold_id
    for row, errors in holding:
        hold_id, interaction_id = row[HOLD]
        if hold_id is not None:
            if owners.get(hold_id) is None:
                errors["hold_id"] = "No such hold in this outlet."
            elif owners[hold_id] != row[AGENT_ID]:
                errors["hold_id"] = "Is another agent's hold: a record captures its own agent's."
        elif (hold_id := live_by_call.get((row[AGENT_ID], interaction_id))) is not None:
            row[HOLD], row[COPY_LINE] = (hold_id, interaction_id), with_hold(row[COPY_LINE], hold_id)


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
        hours_changed.send(sender=UsageRecord, outlet_id=outlet.pk, hours={hour_start(row[OCCURRED_AT]) for row in stored})
        debits: dict[UUID, Decimal] = defaultdict(Decimal)
        used_at: dict[UUID, datetime] = {}
        for row in stored:
            debits[row[AGENT_ID]] += row[CREDITS]
            used_at[row[AGENT_ID]] = max(used_at.get(row[AGENT_ID], row[OCCURRED_AT]), row[OCCURRED_AT])
        try:
            credits_consume(
                debits=debits, ingest_batch_id=batch_id, actor=actor, reason=f"Usage batch {batch_id}", used_at=used_at
            )
        except BalanceLimitError as exc:
            raise _balance_limit_error(exc, rows) from None
        holds_capture(_captures(stored), now=timezone.now())  # under the accounts' locks the debit took
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


def _captures(stored: list[list]) -> dict[UUID, Decimal]:
    """The credit each hold captures from the stored records."""
    captured: dict[UUID, Decimal] = defaultdict(Decimal)
    for row in stored:
        if row[HOLD] is not None and row[HOLD][0] is not None:
            captured[row[HOLD][0]] += row[CREDITS]
    return captured


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


def ingest_records(*, outlet: Outlet, records: list, actor: Actor) -> IngestResult:
    """Validates the whole batch, then stores it; a batch with any bad record stores nothing."""
    rows, errors = validate_records(outlet, records)
    if errors:
        raise records_invalid(errors, len(records))
    return store_records(outlet=outlet, rows=rows, actor=actor)


INTERACTION_MUTABLE = (
    "agent_id", "channel", "status", "started_at", "ended_at", "duration_seconds", "sentiment", "end_user_id",
    "message_count", "metadata",
)


ENDED = frozenset({Interaction.Status.COMPLETED, Interaction.Status.FAILED})


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    interaction_ids: list[str]


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


def _attach_agents(outlet: Outlet, items: list[tuple[dict, dict]]) -> None:
    """Replaces each item's agent reference by the outlet's agent id; an item without one keeps its agent."""
    referencing = [(values, errors) for values, errors in items if "agent_key" in values]
    references = [(values.pop("agent_key"), errors) for values, errors in referencing]
    for (values, _), agent_id in zip(referencing, resolve_agents(outlet, references)):
        values["agent_id"] = agent_id


def _upsert_interactions(*, outlet: Outlet, interactions: list) -> UpsertResult:
    now = timezone.now()
    items = [check_interaction(raw, now) for raw in interactions]
    _attach_agents(outlet, items)
    with transaction.atomic():
        ids = {values["interaction_id"] for values, errors in items if not errors}  # only valid items are applied
        current = {
            interaction.interaction_id: interaction
            for interaction in Interaction.objects.select_for_update().filter(outlet=outlet, interaction_id__in=ids)
        }
        existing_ids = set(current)
        # An interaction counts in the rollup of the hour it started: a move changes two hours.
        touched_hours = {hour_start(interaction.started_at) for interaction in current.values()}
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
        touched_hours.update(hour_start(interaction.started_at) for interaction in current.values())
        hours_changed.send(sender=Interaction, outlet_id=outlet.pk, hours=touched_hours)
        # A call that ended gives back what its hold reserves and its usage has not captured; accounts locked last.
        ended = [(interaction.agent_id, key) for key, interaction in current.items() if interaction.status in ENDED]
        holds_release_for_calls(ended, actor=Actor.system("interaction_ended"))
    return UpsertResult(created=len(created), updated=len(updated), interaction_ids=list(current))
