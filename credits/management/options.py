"""Command options that name an outlet or an agent, for every app's commands."""

from django.core.management.base import CommandError

from config.commands import uuid_from_option
from config.errors import NotFoundError
from credits import selectors
from credits.models import Agent, Outlet


def outlet_from_option(value: str) -> Outlet:
    outlet_id = uuid_from_option(value, "outlet", "Outlet")
    outlet = selectors.outlet_list(outlet_id=outlet_id).first()
    if outlet is None:
        raise CommandError(f"Outlet {outlet_id} not found.")
    return outlet


def agent_from_option(value: str) -> Agent:
    agent_id = uuid_from_option(value, "agent", "Agent")
    try:
        return selectors.agent_get(outlet_id=None, agent_id=agent_id)
    except NotFoundError:
        raise CommandError(f"Agent {agent_id} not found.") from None
