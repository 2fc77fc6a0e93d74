"""An agent's own spend controls as the API changes them: a field given is set; null hands it back to the outlet's."""

from collections.abc import Mapping
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from config.errors import DomainError
from credits.controls import MAX_TOP_UPS_PER_DAY, TOP_UP_FIELDS, Enforcement, TopUpSource
from credits.models import Agent
from credits.services import parse_amount

CONTROL_FIELDS = ("low_balance_threshold", "enforcement", "overdraft_limit", "auto_top_up")
RULE_KEYS = ("threshold", "amount", "source", "max_per_day")
RULE_WHOLE = "Give threshold, amount, source and max_per_day together, or null for the outlet's rule."


def _invalid(field: str, message: str, *, key: str | None = None) -> DomainError:
    errors = {field: {key: [message]}} if key else {field: [message]}
    return DomainError(f"{field}{'.' + key if key else ''}: {message}", errors=errors)


def _credits(value, field: str, *, key: str | None = None, positive: bool = False) -> Decimal:
    amount = parse_amount(value, field=field)
    if amount < 0 or (positive and amount == 0):
        raise _invalid(field, "Must be greater than 0." if positive else "Must be 0 or more.", key=key)
    return amount


def _max_per_day(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOP_UPS_PER_DAY:
        raise _invalid("auto_top_up", f"A whole number from 0 (rule off) to {MAX_TOP_UPS_PER_DAY}.", key="max_per_day")
    return value


def _rule_fields(rule: Mapping | None) -> dict:
    """The agent's four top-up fields: a whole rule, or all None for the outlet's."""
    if rule is None:
        return dict.fromkeys(TOP_UP_FIELDS)
    if not isinstance(rule, Mapping) or set(rule) != set(RULE_KEYS) or any(rule[key] is None for key in RULE_KEYS):
        raise _invalid("auto_top_up", RULE_WHOLE)
    if rule["source"] not in TopUpSource.values:
        raise _invalid("auto_top_up", f"One of {', '.join(TopUpSource.values)}.", key="source")
    return {
        "top_up_threshold": _credits(rule["threshold"], "auto_top_up", key="threshold"),
        "top_up_amount": _credits(rule["amount"], "auto_top_up", key="amount", positive=True),
        "top_up_source": rule["source"],
        "top_up_max_per_day": _max_per_day(rule["max_per_day"]),
    }


def _clean(changes: Mapping) -> dict:
    """The model fields the changes set, each checked; a DomainError names the first bad one."""
    unknown = sorted(map(str, set(changes) - set(CONTROL_FIELDS)))
    if unknown:
        raise DomainError(f"{unknown[0]}: Unknown field.", errors={name: ["Unknown field."] for name in unknown})
    values = {}
    for name in ("low_balance_threshold", "overdraft_limit"):
        if name in changes:
            values[name] = None if changes[name] is None else _credits(changes[name], name)
    if "enforcement" in changes:
        if changes["enforcement"] not in (None, *Enforcement.values):
            raise _invalid("enforcement", f"One of {', '.join(Enforcement.values)}, or null for the outlet's.")
        values["enforcement"] = changes["enforcement"]
    if "auto_top_up" in changes:
        values.update(_rule_fields(changes["auto_top_up"]))
    return values


def _api_errors(exc: ValidationError) -> dict:
    """The model's errors by the API's field names (the four top-up fields are `auto_top_up`)."""
    errors: dict[str, list] = {}
    for name, messages in exc.message_dict.items():
        field = "auto_top_up" if name in TOP_UP_FIELDS else "non_field_errors" if name == NON_FIELD_ERRORS else name
        errors.setdefault(field, []).extend(messages)
    return errors


@transaction.atomic
def agent_controls_update(*, agent: Agent, changes: Mapping) -> Agent:
    """Sets the controls `changes` names (any of CONTROL_FIELDS) on the agent, checked as the admin's form checks them.

    None resets a control to the outlet's default; `auto_top_up` is a whole rule ({threshold, amount, source,
    max_per_day}) or None. Only the fields named are written, so two changes to different controls both stand.
    """
    values = _clean(changes)
    agent = Agent.objects.select_for_update(no_key=True, of=("self",)).select_related("outlet").get(pk=agent.pk)
    for name, value in values.items():
        setattr(agent, name, value)
    try:
        agent.full_clean(exclude=[field.name for field in Agent._meta.fields if field.name not in values], validate_unique=False)
    except ValidationError as exc:
        errors = _api_errors(exc)
        name = next(iter(errors))
        raise DomainError(f"{name}: {errors[name][0]}", errors=errors) from None
    if values:
        agent.save(update_fields=list(values))
    return agent
