"""What every app's management commands share: who is at the shell, and counts as people read them."""

import getpass


def cli_label(*via: str) -> str:
    """`cli:<user>`, or `cli:import_usage:<user>` for a command that names itself: the operator by OS account."""
    try:
        user = getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (e.g. a container running as an unnamed uid)
        user = ""
    return f"cli:{':'.join([*via, user or 'unknown'])}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular}" if count == 1 else f"{count:,} {plural_form or singular + 's'}"
