"""`manage.py create_api_key`: mint an outlet's API key and show its secret, this once."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from config.errors import DomainError
from credits import services
from credits.management.options import OUTLET_HELP, outlet_from_option
from credits.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key for an outlet. The key is printed alone on stdout (so KEY=$(...) captures it) "
        "and is never shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--outlet", required=True, metavar="OUTLET", help=f"The outlet the key acts for: {OUTLET_HELP}"
        )
        parser.add_argument(
            "--scopes", required=True, nargs="+", metavar="SCOPE", help=f"Any of: {', '.join(ApiKey.Scope.values)}."
        )
        parser.add_argument("--name", help="A label for the key, 1 to 50 characters (default: 'CLI key YYYY-MM-DD').")
        parser.add_argument(
            "--expires-in-days", type=int, metavar="N", help="Expire the key after N days (default: never)."
        )

    def handle(self, *args, outlet, scopes, name, expires_in_days, **options):
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError(f"--expires-in-days must be 1 or more, got {expires_in_days}.")
        now = timezone.now()
        expires_at = now + timedelta(days=expires_in_days) if expires_in_days is not None else None
        target = outlet_from_option(outlet)
        try:
            api_key, raw_key = services.api_key_create(
                outlet=target,
                name=name if name is not None else f"CLI key {now:%Y-%m-%d}",
                scopes=scopes,
                expires_at=expires_at,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None

        expiry = f"expires {api_key.expiry_date:%Y-%m-%d %H:%M} UTC" if api_key.expiry_date else "never expires"
        self.stdout.write(raw_key)
        self.stderr.write(
            f"API key '{api_key.name}' (prefix {api_key.prefix}) for outlet {target.name} ({target.pk}), "
            f"scopes {' '.join(api_key.scopes)}, {expiry}. Store it now: it will not be shown again.",
            style_func=self.style.WARNING,
        )
