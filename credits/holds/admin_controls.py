"""The spend controls in effect for an agent (its own, else its outlet's) as the agent and account pages show them."""

from django.contrib import admin

from config.money import display_amount
from credits.controls import Enforcement, TopUpSource
from credits.holds.policy import SpendPolicy, spend_policy


def spend_policy_display(policy: SpendPolicy) -> str:
    """The effective controls in one line, as staff read them."""
    enforcement = "block" if policy.enforcement == Enforcement.BLOCK else "off"
    overdraft = display_amount(policy.overdraft_limit, "credits", full=True)
    rule = policy.top_up
    if rule is None:
        top_up = "no auto top-up"
    elif rule.max_per_day == 0:
        top_up = "auto top-up off (0 a day)"
    else:
        source = "from the outlet pool" if rule.source == TopUpSource.POOL else "requested by webhook"
        top_up = (
            f"auto top-up of {display_amount(rule.amount, 'credits', full=True)} {source} below "
            f"{display_amount(rule.threshold, 'credits', full=True)}, at most {rule.max_per_day} a day"
        )
    return f"Enforcement {enforcement}, overdraft limit {overdraft}; {top_up}."


class EffectiveControls:
    """The agent page's read-only line of the controls in effect: the agent's, else its outlet's."""

    @admin.display(description="in effect")
    def effective_controls(self, agent):
        if agent._state.adding:
            return "-"  # the outlet's, once it is saved
        return spend_policy_display(spend_policy(agent, agent.outlet))
