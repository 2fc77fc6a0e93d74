"""What every app's management commands share: who is at the shell, and options that name a row by UUID."""

import getpass
import uuid

from django.core.management.base import CommandError


def cli_label(*via: str) -> str:
    """`cli:<user>`, or `cli:import_usage:<user>` for a command that names itself: the operator by OS account."""
    try:
        user = getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (e.g. a container running as an unnamed uid)
        user = ""
    return f"cli:{':'.join([*via, user or 'unknown'])}"


def uuid_from_option(value: str, option: str, noun: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{noun} '{value}' not found: --{option} must be a UUID.") from None


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular}" if count == 1 else f"{count:,} {plural_form or singular + 's'}"
