"""`manage.py credits add|set|clear|allocate|reclaim|void`: the operator's door to the ledger, through the services
the API and admin use."""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from config.money import format_credits
from credits import pool, services, writeoffs
from credits.grants import MANUAL_SOURCES, GrantTerms
from credits.management.options import AGENT_HELP, OUTLET_HELP, agent_from_option, outlet_from_option

MODES = ("add", "set", "clear", "allocate", "reclaim", "void")
GRANT_OPTIONS = ("expires_at", "priority", "source")


class Command(BaseCommand):
    help = (
        "Add to, set or clear an agent's credit balance (or add to an outlet's pool), move credits between the pool "
        "and an agent, or void a grant; each says what it posted."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "mode",
            choices=MODES,
            help="add: a grant of X; set: make the balance X; clear: make it 0; allocate: X from the outlet's pool to "
            "the agent; reclaim: X of the agent's unused allocations back to the pool; void: write a grant off.",
        )
        parser.add_argument("--agent", metavar="AGENT", help=f"The agent whose balance changes: {AGENT_HELP}")
        parser.add_argument(
            "--pool", action="store_true", help="add only: the grant goes to the pool of --outlet instead of an agent."
        )
        parser.add_argument(
            "--outlet", metavar="OUTLET", help=f"Look the agent up in this outlet only, or the pool's outlet. {OUTLET_HELP}"
        )
        parser.add_argument("--grant", metavar="ID", type=int, help="void only: the grant to write off.")
        parser.add_argument(
            "--amount", metavar="X", help="Credits; required for add, allocate, reclaim (> 0) and set (>= 0)."
        )
        parser.add_argument("--reason", required=True, help="Why; kept in the ledger.")
        parser.add_argument(
            "--idempotency-key", metavar="KEY", help="Retrying with the same key and arguments applies the change once."
        )
        parser.add_argument(
            "--effective-at",
            metavar="TIME",
            help="add, set, clear: when the change took effect, ISO 8601 with offset (e.g. 2026-11-21T10:00:00Z); "
            "now or earlier, default now.",
        )
        parser.add_argument(
            "--expires-at", metavar="TIME", help="add only: when the grant stops counting, ISO 8601 with offset; default never."
        )
        parser.add_argument("--priority", metavar="N", type=int, help="add only: lower is drawn first; default 100.")
        parser.add_argument(
            "--source", choices=MANUAL_SOURCES, help="add only: where the credits came from; default purchase."
        )

    def handle(self, *args, mode, **options):
        self._check_options(mode, options)
        try:
            if mode in ("allocate", "reclaim"):
                line = self._transfer(mode, options)
            else:
                line = self._void(options) if mode == "void" else self._post(mode, options)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(line)

    def _check_options(self, mode: str, options: dict) -> None:
        given = {name for name, value in options.items() if value not in (None, False)}
        if options["pool"] and options["agent"]:
            raise CommandError("Give --agent or --pool, not both.")
        needs = {"void": {"grant"}, "clear": {"agent"}}.get(mode, {"amount"} | ({"outlet"} if options["pool"] else {"agent"}))
        if missing := sorted(needs - given):
            raise CommandError(f"--{missing[0].replace('_', '-')} is required for {mode}.")
        allowed = {
            "add": {"agent", "pool", "outlet", "amount", "effective_at", *GRANT_OPTIONS},
            "set": {"agent", "outlet", "amount", "effective_at"},
            "clear": {"agent", "outlet", "effective_at"},
            "allocate": {"agent", "outlet", "amount"},
            "reclaim": {"agent", "outlet", "amount"},
            "void": {"grant"},
        }[mode] | {"reason", "idempotency_key"}
        option_names = {"agent", "pool", "outlet", "grant", "amount", "effective_at", "idempotency_key", *GRANT_OPTIONS}
        if refused := sorted((given & option_names) - allowed):
            raise CommandError(f"--{refused[0].replace('_', '-')} is not allowed with {mode}.")

    def _agent(self, options: dict):
        outlet = options["outlet"]
        return agent_from_option(options["agent"], outlet=outlet_from_option(outlet) if outlet is not None else None)

    def _post(self, mode: str, options: dict) -> str:
        amount = None if options["amount"] is None else services.parse_amount(options["amount"])
        moment = None if options["effective_at"] is None else services.parse_effective_at(options["effective_at"])
        common = {
            "amount": amount, "actor": services.Actor.for_operator(), "reason": options["reason"],
            "idempotency_key": options["idempotency_key"], "effective_at": moment,
        }
        terms = None
        if mode == "add":
            expires_at = options["expires_at"]
            terms = GrantTerms(
                source=options["source"] or GrantTerms.source,
                priority=GrantTerms.priority if options["priority"] is None else options["priority"],
                expires_at=None if expires_at is None else services.parse_effective_at(expires_at, field="expires_at"),
            )
        if options["pool"]:
            outlet = outlet_from_option(options["outlet"])
            result = services.pool_add(outlet=outlet, terms=terms, **common)
            owner = f"pool of {outlet.name} ({outlet.pk})"
        else:
            agent = self._agent(options)
            result = services.credits_apply(agent=agent, kind=mode.upper(), terms=terms, **common)
            owner = f"agent {agent.name} ({agent.pk})"
        action = "CLEAR" if mode == "clear" else f"{mode.upper()} {format_credits(amount)} {'to' if mode == 'add' else 'for'}"
        grant = result.grant
        details = [f"entry {result.entry.pk}"]
        if grant is not None:
            expiry = "no expiry" if grant.expires_at is None else f"expires {grant.expires_at.isoformat()}"
            details.append(f"grant {grant.pk}, {grant.source}, priority {grant.priority}, {expiry}")
        if moment is not None:
            details.append(f"effective {result.entry.effective_at.isoformat()}")
        return (
            f"{action} {owner}: balance {format_credits(result.balance_before)} -> {format_credits(result.balance_after)} "
            f"({'; '.join(details)}){' (replayed)' if result.replayed else ''}"
        )

    def _transfer(self, mode: str, options: dict) -> str:
        agent = self._agent(options)
        amount = services.parse_amount(options["amount"])
        move = pool.pool_allocate if mode == "allocate" else pool.pool_reclaim
        result = move(
            agent=agent, amount=amount, actor=services.Actor.for_operator(), reason=options["reason"],
            idempotency_key=options["idempotency_key"],
        )
        direction = "from the pool to" if mode == "allocate" else "to the pool from"
        return (
            f"{mode.upper()} {format_credits(amount)} {direction} agent {agent.name} ({agent.pk}): "
            f"agent balance {format_credits(result.agent_entry.balance_after)}, "
            f"pool balance {format_credits(result.pool_entry.balance_after)} "
            f"(entries {result.agent_entry.pk}, {result.pool_entry.pk}){' (replayed)' if result.replayed else ''}"
        )

    def _void(self, options: dict) -> str:
        result = writeoffs.grant_void(
            grant_id=options["grant"], outlet_id=None, actor=services.Actor.for_operator(), reason=options["reason"],
            idempotency_key=options["idempotency_key"],
        )
        return (
            f"VOID grant {options['grant']}: {format_credits(-result.entry.amount)} written off, balance "
            f"{format_credits(result.balance_before)} -> {format_credits(result.balance_after)} "
            f"(entry {result.entry.pk}){' (replayed)' if result.replayed else ''}"
        )
