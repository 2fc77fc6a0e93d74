"""The spend controls that apply to an agent: its own where set, else its outlet's, else none (module `controls`)."""

from dataclasses import dataclass
from decimal import Decimal

from credits.controls import Enforcement
from credits.models import ZERO, Agent, Outlet


@dataclass(frozen=True)
class TopUpRule:
    threshold: Decimal
    amount: Decimal
    source: str
    max_per_day: int


@dataclass(frozen=True)
class SpendPolicy:
    enforcement: str
    overdraft_limit: Decimal
    top_up: TopUpRule | None

    def refuses(self, *, available: Decimal, amount: Decimal) -> bool:
        """Under block, a reservation may not take available credit below -overdraft_limit."""
        return self.enforcement == Enforcement.BLOCK and available - amount < -self.overdraft_limit


def _first_set(*values, default):
    return next((value for value in values if value is not None), default)


def top_up_rule(holder: Agent | Outlet) -> TopUpRule | None:
    if holder.top_up_source is None:
        return None
    return TopUpRule(
        threshold=holder.top_up_threshold, amount=holder.top_up_amount, source=holder.top_up_source,
        max_per_day=holder.top_up_max_per_day,
    )


def policy_of(enforcements: tuple, overdraft_limits: tuple, top_up: TopUpRule | None = None) -> SpendPolicy:
    """The first value set of each, the agent's before the outlet's; unset, the agent is not enforced."""
    return SpendPolicy(
        enforcement=_first_set(*enforcements, default=Enforcement.OFF),
        overdraft_limit=_first_set(*overdraft_limits, default=ZERO),
        top_up=top_up,
    )


def spend_policy(agent: Agent, outlet: Outlet) -> SpendPolicy:
    """The agent's controls, each field falling back to the outlet's; a top-up rule is taken whole from one of them."""
    return policy_of(
        (agent.enforcement, outlet.enforcement), (agent.overdraft_limit, outlet.overdraft_limit),
        top_up_rule(agent) or top_up_rule(outlet),
    )
