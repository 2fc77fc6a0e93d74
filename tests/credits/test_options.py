"""Command options naming an outlet (id or name) or an agent (id, external id or name, within an outlet)."""

import pytest
from django.core.management.base import CommandError

from credits.management.options import agent_from_option, outlet_from_option
from tests.factories import AgentFactory, OutletFactory

pytestmark = pytest.mark.django_db

UNKNOWN_ID = "7d5e1a6c-0000-4000-8000-000000000000"


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(CommandError) as excinfo:
        call(*args, **kwargs)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# outlets


def test_an_outlet_is_named_by_its_id_or_its_name_in_any_case():
    outlet = OutletFactory(name="Acme Voice")
    OutletFactory(name="Other")

    assert outlet_from_option(str(outlet.pk)) == outlet
    assert outlet_from_option("Acme Voice") == outlet
    assert outlet_from_option("acme voice") == outlet


def test_an_outlet_name_two_outlets_share_is_an_error_listing_both():
    first, second = OutletFactory(name="Acme"), OutletFactory(name="ACME")

    message = error_of(outlet_from_option, "acme")

    assert message.startswith("Outlet 'acme' is ambiguous: it names 2 outlets: ")
    assert f"Acme ({first.pk})" in message and f"ACME ({second.pk})" in message
    assert message.endswith("Pass an id.")


@pytest.mark.parametrize("value", ["nope", UNKNOWN_ID])
def test_an_unknown_outlet_is_a_one_line_error(value):
    OutletFactory(name="Acme")

    assert error_of(outlet_from_option, value) == (
        f"Outlet '{value}' not found: no outlet has this id or name (`manage.py outlets` lists them)."
    )


# agents


def test_an_agent_is_named_by_its_id_its_external_id_or_its_name():
    agent = AgentFactory(name="Support Bot", external_id="support-1")
    AgentFactory(outlet=agent.outlet)

    assert agent_from_option(str(agent.pk)) == agent
    assert agent_from_option("support-1") == agent
    assert agent_from_option("support bot") == agent


def test_an_external_id_that_looks_like_a_uuid_still_names_its_agent():
    agent = AgentFactory(external_id=UNKNOWN_ID)

    assert agent_from_option(UNKNOWN_ID) == agent


def test_an_agent_name_shared_across_outlets_is_ambiguous_until_the_outlet_is_given():
    first = AgentFactory(name="Support", outlet=OutletFactory(name="Acme"))
    second = AgentFactory(name="Support", outlet=OutletFactory(name="Beta"))

    message = error_of(agent_from_option, "Support")

    assert message.startswith("Agent 'Support' is ambiguous: it names 2 agents: ")
    assert f"Support (external id {first.external_id}, outlet Acme, {first.pk})" in message
    assert f"Support (external id {second.external_id}, outlet Beta, {second.pk})" in message
    assert message.endswith("Pass an id, or --outlet.")
    assert agent_from_option("Support", outlet=second.outlet) == second


def test_an_agent_of_another_outlet_is_not_found_within_the_given_one(agent):
    other_outlet = OutletFactory(name="Beta")

    assert error_of(agent_from_option, str(agent.pk), outlet=other_outlet) == (
        f"Agent '{agent.pk}' not found in outlet Beta ({other_outlet.pk}): "
        "no agent has this id, external id or name (`manage.py outlets` lists them)."
    )


@pytest.mark.parametrize("value", ["nope", UNKNOWN_ID])
def test_an_unknown_agent_is_a_one_line_error(agent, value):
    assert error_of(agent_from_option, value) == (
        f"Agent '{value}' not found: no agent has this id, external id or name (`manage.py outlets` lists them)."
    )


def test_an_ambiguity_error_lists_ten_matches_and_counts_the_rest(outlet):
    AgentFactory.create_batch(12, outlet=outlet, name="Bot")

    message = error_of(agent_from_option, "Bot")

    assert "it names 12 agents: " in message
    assert message.count("Bot (external id") == 10
    assert "; and 2 more. Pass an id, or --outlet." in message
