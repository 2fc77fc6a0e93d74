"""`manage.py credits add|set|clear`: the operator's door to the ledger, through the service the API and admin use."""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from config.money import format_credits
from credits import services
from credits.management.options import AGENT_HELP, OUTLET_HELP, agent_from_option, outlet_from_option

MODES = ("add", "set", "clear")


class Command(BaseCommand):
    help = "Add to, set or clear an agent's credit balance; writes exactly one ledger entry."

    def add_arguments(self, parser):
        parser.add_argument("mode", choices=MODES, help="add: top up by X; set: make the balance X; clear: make it 0.")
        parser.add_argument(
            "--agent", required=True, metavar="AGENT", help=f"The agent whose balance changes: {AGENT_HELP}"
        )
        parser.add_argument("--outlet", metavar="OUTLET", help=f"Look the agent up in this outlet only. {OUTLET_HELP}")
        parser.add_argument(
            "--amount", metavar="X", help="Credits; required for add (> 0) and set (>= 0), refused for clear."
        )
        parser.add_argument("--reason", required=True, help="Why; kept in the ledger.")
        parser.add_argument(
            "--idempotency-key", metavar="KEY", help="Retrying with the same key and arguments applies the change once."
        )
        parser.add_argument(
            "--effective-at",
            metavar="TIME",
            help="When the change took effect, ISO 8601 with offset (e.g. 2026-11-21T10:00:00Z); now or earlier, default now.",
        )

    def handle(self, *args, mode, agent, outlet, amount, reason, idempotency_key, effective_at, **options):
        if mode == "clear" and amount is not None:
            raise CommandError("--amount is not allowed with clear: clear always sets the balance to 0.")
        if mode != "clear" and amount is None:
            raise CommandError(f"--amount is required for {mode}.")
        try:
            parsed_amount = None if amount is None else services.parse_amount(amount)
            moment = None if effective_at is None else services.parse_effective_at(effective_at)
            target = agent_from_option(agent, outlet=outlet_from_option(outlet) if outlet is not None else None)
            result = services.credits_apply(
                agent=target,
                kind=mode.upper(),
                amount=parsed_amount,
                actor=services.Actor.for_operator(),
                reason=reason,
                idempotency_key=idempotency_key,
                effective_at=moment,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None

        if mode == "add":
            action = f"ADD {format_credits(parsed_amount)} to"
        elif mode == "set":
            action = f"SET {format_credits(parsed_amount)} for"
        else:
            action = "CLEAR"
        replayed = " (replayed)" if result.replayed else ""
        effective = "" if effective_at is None else f", effective {result.entry.effective_at.isoformat()}"
        self.stdout.write(
            f"{action} agent {target.name} ({target.pk}): "
            f"balance {format_credits(result.balance_before)} -> {format_credits(result.balance_after)} "
            f"(entry {result.entry.pk}{effective}){replayed}"
        )
