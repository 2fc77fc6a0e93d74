"""The ledger's reconcile check, registered in `CreditsConfig.ready()`."""

from config.checks import CheckResult
from config.commands import plural
from credits import selectors
from credits.models import CreditAccount, CreditGrant


def check_ledger() -> CheckResult:
    """Every balance (agents' and pools') equals the sum of its account's entries and its grants' remaining less
    debt, each grant holds its amount less its movements, each entry's balance_after follows the previous, and no
    entry takes effect after it was posted."""
    accounts = CreditAccount.objects.count()
    entries = selectors.ledger_entry_list().count()
    grants = CreditGrant.objects.count()
    return CheckResult(
        checked=f"{plural(accounts, 'account')}, {plural(entries, 'ledger entry', 'ledger entries')}, "
        f"{plural(grants, 'grant')}",
        problems=selectors.ledger_mismatches(),
    )
