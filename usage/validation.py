"""What a valid usage record or interaction is: plain Python over the decoded JSON, no database.

Each check returns what it could read and its errors by field (empty when valid), so that a batch
is judged whole and every bad item is named, before anything is written.
"""

import functools
import json
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID

from config.api.dates import EARLIEST_DAY
from usage.models import ID_LENGTH, RELATION_IDS, TYPE_PATTERN, Interaction, UsageRecord
from usage.rows import copy_column_values, copy_text

MAX_BATCH = 1000  # records or interactions in one request
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
uuid_cached = functools.lru_cache(maxsize=4096)(UUID)  # raises ValueError like UUID


def _places_and_digits(model, name: str) -> tuple[str, int, int]:
    """A decimal column's places and digits before the point: what an amount for it may have."""
    column = model._meta.get_field(name)
    return name, column.decimal_places, column.max_digits - column.decimal_places


AMOUNT_FIELDS = tuple(_places_and_digits(UsageRecord, name) for name in ("count", "credits", "cost_usd"))
DURATION_FIELD = _places_and_digits(Interaction, "duration_seconds")
RECORD_FIELDS = frozenset(
    {"event_id", "agent_id", "agent_external_id", "type", "unit", "latency_ms", "meta", "occurred_at", "hold_id"}
    | set(TEXT_FIELDS)
    | {name for name, _, _ in AMOUNT_FIELDS}
)
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
    if not amount.is_finite():
        errors[name] = "Must be a finite number: NaN and Infinity are not amounts."
    elif amount < 0:
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


def hour_start(moment: datetime) -> datetime:
    """The UTC hour holding `moment`: the bucket its rollups are built for."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def check_record(raw, now: datetime) -> tuple[list, dict]:
    """One record as a row (its agent reference for agent_id), and its errors by field (empty when valid)."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict):
        return [None, None, None, None, "", None, None], {"record": "Must be an object."}
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
    omitted = (raw.get("credits") is None, raw.get("cost_usd") is None)  # priced from the book when resolved
    values["price_id"] = None
    latency = raw.get("latency_ms")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency < 2**31):
        errors["latency_ms"] = "Must be a whole number of milliseconds, 0 or more."
    values["latency_ms"] = latency
    values["meta"] = _meta(raw.get("meta"), errors)
    values["occurred_at"] = parse_timestamp(raw.get("occurred_at"), errors, "occurred_at", now)
    if not _read_agent_reference(raw, values, errors) and "agent_id" not in errors:
        errors["agent_id"] = "Required: agent_id (UUID) or agent_external_id."
    values["hold_id"] = _hold_id(raw.get("hold_id"), errors)
    agent_key = values.get("agent_key")
    if errors:  # never stored: no need to encode it
        return [agent_key, event_id, None, None, "", None, None], errors
    hold = (values["hold_id"], values["interaction_id"]) if values["hold_id"] or values["interaction_id"] else None
    if any(omitted):
        unpriced = (list(copy_column_values(values)), *omitted)
        return [agent_key, event_id, None, values["occurred_at"], "", unpriced, hold], errors
    copy_line = copy_text(copy_column_values(values))
    return [agent_key, event_id, values["credits"], values["occurred_at"], copy_line, None, hold], errors


def _hold_id(value, errors: dict) -> UUID | None:
    """The hold a record names to capture, if any; whose it is is checked when the batch is resolved."""
    if value is None:
        return None
    try:
        return value if isinstance(value, UUID) else uuid_cached(str(value))
    except ValueError:
        errors["hold_id"] = "Must be a hold's id (a UUID)."
        return None


def check_records(records: list, now: datetime) -> list[tuple[list, dict]]:
    """Each record as a row and its errors by field, agents not yet resolved: plain Python, no database."""
    return [check_record(raw, now) for raw in records]


def _read_agent_reference(raw: dict, values: dict, errors: dict) -> bool:
    """Puts the item's agent reference (`agent_id` or `agent_external_id`) in `values["agent_key"]`; False if none."""
    agent_id, external_id = raw.get("agent_id"), raw.get("agent_external_id")
    if agent_id is not None:
        try:
            values["agent_key"] = ("id", agent_id if isinstance(agent_id, UUID) else uuid_cached(str(agent_id)))
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


INTERACTION_FIELDS = frozenset(
    {"interaction_id", "agent_id", "agent_external_id", "channel", "status", "started_at", "ended_at",
     "duration_seconds", "sentiment", "end_user_id", "message_count", "metadata"}
)
INTERACTION_TEXT_FIELDS = {"channel": 32, "end_user_id": ID_LENGTH}
STATUSES = frozenset(Interaction.Status.values)
SENTIMENTS = frozenset(Interaction.Sentiment.values)


def check_interaction(raw, now: datetime) -> tuple[dict, dict]:
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
    for name, limit in INTERACTION_TEXT_FIELDS.items():
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
        values["duration_seconds"] = _amount(raw["duration_seconds"], errors, *DURATION_FIELD)
    if "message_count" in raw:
        count = raw["message_count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < 2**31:
            errors["message_count"] = "Must be a whole number, 0 or more."
        values["message_count"] = count
    if "metadata" in raw:
        values["metadata"] = json.loads(_meta(raw["metadata"], errors, "metadata"))
    _read_agent_reference(raw, values, errors)  # optional: an update may leave the agent as it is
    return values, errors
