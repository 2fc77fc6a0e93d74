"""`manage.py reconcile`: prove the stored numbers agree with the records they cache; exit 1 on any mismatch.

Each check is a function returning a `CheckResult`: what it looked at (for the summary) and
one line per problem. Other apps add theirs to `CHECKS`: analytics checks its rollups against raw records.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError

from analytics.checks import check_rollups
from credits import selectors


@dataclass(frozen=True)
class CheckResult:
    checked: str  # what was verified, for the summary line: "12 accounts, 340 ledger entries"
    problems: list[str] = field(default_factory=list)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular}" if count == 1 else f"{count:,} {plural_form or singular + 's'}"


def check_ledger() -> CheckResult:
    """Every balance equals the sum of its account's entries, and each entry's balance_after follows the previous."""
    accounts = selectors.balance_list().count()
    entries = selectors.ledger_entry_list().count()
    return CheckResult(
        checked=f"{plural(accounts, 'account')}, {plural(entries, 'ledger entry', 'ledger entries')}",
        problems=selectors.ledger_mismatches(),
    )


CHECKS: list[tuple[str, Callable[[], CheckResult]]] = [
    ("ledger", check_ledger),
    ("rollups", check_rollups),
]


class Command(BaseCommand):
    help = "Check that balances equal their ledgers and rollups their raw records; print each mismatch and exit 1 if any."

    def handle(self, *args, **options):
        checked, problems = [], []
        for name, check in CHECKS:
            result = check()
            checked.append(result.checked)
            problems.extend(f"{name}: {problem}" for problem in result.problems)

        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{plural(len(problems), 'mismatch', 'mismatches')} found.", returncode=1)
        self.stdout.write(f"OK: {', '.join(checked)} consistent.")
