"""`manage.py seed_demo`: the demo data set of `analytics.demo.seed`, with the rollups of what it seeds built."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from analytics.demo.seed import DEFAULT_RECORDS, ensure_superuser, login_line, seed
from analytics.services import rollup_dirty_buckets
from config.errors import DomainError
from credits import selectors


class Command(BaseCommand):
    help = (
        "Create demo outlets, agents, 90 days of calls, chats and usage, ledger history and API keys, "
        "plus an admin/admin superuser if there is none."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Seed only when there is no outlet yet.")
        parser.add_argument("--outlets", type=int, default=3, metavar="N", help="Outlets to create (default 3).")
        parser.add_argument("--agents", type=int, default=4, metavar="N", help="Agents per outlet (default 4).")
        parser.add_argument(
            "--records", type=int, default=DEFAULT_RECORDS, metavar="N",
            help=f"About how many usage records to create in all (default {DEFAULT_RECORDS:,}).",
        )

    def handle(self, *args, if_empty, outlets, agents, records, **options):
        if outlets < 1:
            raise CommandError(f"--outlets must be 1 or more, got {outlets}.")
        if agents < 1:
            raise CommandError(f"--agents must be 1 or more, got {agents}.")
        if records < 0:
            raise CommandError(f"--records must be 0 or more, got {records}.")

        report = None
        try:
            with transaction.atomic():
                ensure_superuser()
                existing = selectors.outlet_list().count() if if_empty else 0
                if not existing:
                    report = seed(outlets, agents, records)
        except DomainError as exc:
            raise CommandError(f"Seeding failed, nothing was written: {exc.message}") from None

        if report is not None:
            run = rollup_dirty_buckets()  # the demo opens on built rollups, with or without a worker
            self.stdout.write(f"Built the rollups of {run.days:,} outlet days.")
        if report is None:
            self.stdout.write(
                f"Kept the existing data ({existing} outlet{'' if existing == 1 else 's'} present); "
                "--if-empty seeds an empty database only."
            )
        else:
            for outlet, raw_key in report.api_keys:
                self.stdout.write(f"API key for {outlet.name}: {raw_key}")
            self.stdout.write(
                f"Seeded {report.outlets} outlets, {report.agents} agents, {report.entries:,} ledger entries, "
                f"{report.interactions:,} interactions, {report.records:,} usage records and "
                f"{len(report.api_keys)} API keys with all scopes (the keys above are not shown again)."
            )
            self.stdout.write(
                f"Spend controls: {report.blocked.name} is enforced (block) with a live hold; "
                f"{report.refills.name} tops up from the pool of {report.refills.outlet.name}."
            )
        self.stdout.write(login_line())
