"""Command options that name an outlet or an agent, for every app's commands.

An operator names an outlet by id or name, and an agent by id, external id or name (within an outlet if one is
given); names match in any case. A name that fits more than one is an error listing them, never a guess.
"""

import uuid

from django.core.management.base import CommandError
from django.db.models import Q, QuerySet

from credits import selectors
from credits.models import Agent, Outlet

OUTLET_HELP = "An outlet's id or name."
AGENT_HELP = "An agent's id, external id or name (with --outlet: that outlet's agents only)."
# Matches listed in an ambiguity error: enough to pick one, on one line.
LISTED_MATCHES = 10


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def outlet_from_option(value: str) -> Outlet:
    key = Q(name__iexact=value)
    if (outlet_id := as_uuid(value)) is not None:
        key |= Q(pk=outlet_id)
    return only_match(
        selectors.outlet_list().filter(key), value, "Outlet", keys="id or name", describe=outlet_description
    )


def agent_from_option(value: str, *, outlet: Outlet | None = None) -> Agent:
    key = Q(external_id=value) | Q(name__iexact=value)
    if (agent_id := as_uuid(value)) is not None:
        key |= Q(pk=agent_id)
    agents = selectors.agent_list(outlet_id=outlet.pk if outlet is not None else None).filter(key)
    within = f" in outlet {outlet.name} ({outlet.pk})" if outlet is not None else ""
    hint = "" if outlet is not None else ", or --outlet"
    return only_match(
        agents, value, "Agent", keys="id, external id or name", describe=agent_description, within=within, hint=hint
    )


def outlet_description(outlet: Outlet) -> str:
    return f"{outlet.name} ({outlet.pk})"


def agent_description(agent: Agent) -> str:
    return f"{agent.name} (external id {agent.external_id}, outlet {agent.outlet.name}, {agent.pk})"


def only_match(matches: QuerySet, value: str, noun: str, *, keys: str, describe, within: str = "", hint: str = ""):
    """The one row `value` names; a one-line CommandError when it names none or several."""
    found = list(matches.order_by("name", "pk")[: LISTED_MATCHES + 1])
    if len(found) == 1:
        return found[0]
    if not found:
        raise CommandError(
            f"{noun} '{value}' not found{within}: no {noun.lower()} has this {keys} (`manage.py outlets` lists them)."
        )
    total = len(found) if len(found) <= LISTED_MATCHES else matches.count()
    listed = "; ".join(describe(row) for row in found[:LISTED_MATCHES])
    more = f"; and {total - LISTED_MATCHES} more" if total > LISTED_MATCHES else ""
    raise CommandError(
        f"{noun} '{value}' is ambiguous{within}: it names {total} {noun.lower()}s: {listed}{more}. "
        f"Pass an id{hint}."
    )
