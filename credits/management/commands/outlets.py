"""`manage.py outlets`: every outlet and its agents with their ids and balances, for people or for a script."""

import csv
from collections import defaultdict

from django.core.management.base import BaseCommand

from config.commands import plural
from config.money import CREDIT_PLACES, format_credits
from credits import selectors
from credits.management.options import OUTLET_HELP, outlet_from_option
from credits.models import CreditAccount, Outlet

CSV_HEADER = (
    "outlet_id", "outlet_name", "outlet_active", "agent_id", "agent_external_id", "agent_name", "agent_active",
    "balance", "threshold", "low",
)


def readable_credits(value) -> str:
    return f"{value:,.{CREDIT_PLACES}f}"


def csv_bool(value: bool) -> str:
    return "true" if value else "false"


def flags(*, active: bool, low: bool = False) -> str:
    return "".join(("  LOW" if low else "", "" if active else "  inactive"))


class Command(BaseCommand):
    help = (
        "List outlets and their agents with ids, external ids, balances, thresholds and low-balance flags "
        "(--format csv: one row per agent, for scripts)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--outlet", metavar="OUTLET", help=f"This outlet only. {OUTLET_HELP}")
        parser.add_argument(
            "--format", choices=("text", "csv"), default="text",
            help="text: an outlet a line, its agents indented under it (default); csv: a header, then one row per "
            "agent (an outlet without agents: one row with empty agent columns).",
        )

    def handle(self, *args, outlet, format, **options):
        target = outlet_from_option(outlet) if outlet is not None else None
        outlet_id = target.pk if target is not None else None
        outlets = list(selectors.outlet_list(outlet_id=outlet_id).order_by("name", "pk"))
        accounts = defaultdict(list)
        for account in selectors.balance_list(outlet_id=outlet_id).order_by("agent__name", "pk"):
            accounts[account.agent.outlet_id].append(account)
        if format == "csv":
            self._write_csv(outlets, accounts)
        else:
            self._write_text(outlets, accounts)

    def _write_csv(self, outlets: list[Outlet], accounts: dict[object, list[CreditAccount]]) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for outlet in outlets:
            head = (outlet.pk, outlet.name, csv_bool(outlet.is_active))
            if not accounts[outlet.pk]:
                writer.writerow((*head, "", "", "", "", "", "", ""))
            for account in accounts[outlet.pk]:
                agent = account.agent
                writer.writerow((
                    *head, agent.pk, agent.external_id, agent.name, csv_bool(agent.is_active),
                    format_credits(account.balance), format_credits(account.threshold), csv_bool(account.is_low),
                ))

    def _write_text(self, outlets: list[Outlet], accounts: dict[object, list[CreditAccount]]) -> None:
        agents = low = 0
        for outlet in outlets:
            rows = accounts[outlet.pk]
            outlet_low = sum(account.is_low for account in rows)
            total = sum((account.balance for account in rows), start=0)
            self.stdout.write(
                f"{outlet.name}  {outlet.pk}  {plural(len(rows), 'agent')}  balance {readable_credits(total)}  "
                f"{outlet_low} low{flags(active=outlet.is_active)}"
            )
            external_width = max((len(account.agent.external_id) for account in rows), default=0)
            name_width = max((len(account.agent.name) for account in rows), default=0)
            for account in rows:
                agent = account.agent
                self.stdout.write(
                    f"  {agent.external_id:<{external_width}}  {agent.name:<{name_width}}  {agent.pk}  "
                    f"balance {readable_credits(account.balance)}  threshold {readable_credits(account.threshold)}"
                    f"{flags(active=agent.is_active, low=account.is_low)}"
                )
            agents, low = agents + len(rows), low + outlet_low
        self.stdout.write(f"{plural(len(outlets), 'outlet')}, {plural(agents, 'agent')}, {low} low.")
