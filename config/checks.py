"""The reconcile-check registry: each app adds, from its `AppConfig.ready()`, the checks that prove its stored numbers.

A check returns a `CheckResult`: what it looked at (for the summary) and one line per problem.
`manage.py reconcile` runs whatever is registered, in the order the apps are installed.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CheckResult:
    checked: str  # what was verified, for the summary line: "12 accounts, 340 ledger entries"
    problems: list[str] = field(default_factory=list)


Check = Callable[[], CheckResult]

_CHECKS: dict[str, Check] = {}


def register(name: str, check: Check) -> None:
    _CHECKS[name] = check


def registered() -> list[tuple[str, Check]]:
    return list(_CHECKS.items())
