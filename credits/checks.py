"""The ledger's reconcile check, registered in `CreditsConfig.ready()`."""

from config.checks import CheckResult
from config.commands import plural
from credits import selectors


def check_ledger() -> CheckResult:
    """Every balance equals the sum of its account's entries, each entry's balance_after follows the previous,
    and no entry takes effect after it was posted."""
    accounts = selectors.balance_list().count()
    entries = selectors.ledger_entry_list().count()
    return CheckResult(
        checked=f"{plural(accounts, 'account')}, {plural(entries, 'ledger entry', 'ledger entries')}",
        problems=selectors.ledger_mismatches(),
    )
