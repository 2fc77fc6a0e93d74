"""`manage.py seed_demo`: a small, realistic, repeatable data set for a first look at the admin and the API.

Outlets and agents are plain rows; every balance change goes through `credits.services`, so
the demo ledger is what production would have written and `reconcile` passes on it. Random
choices come from `random.Random(SEED)`: the same arguments give the same names, amounts and
balances on every run. `--if-empty` (what `make run` uses) leaves a database that already
has outlets alone.
"""

import random
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.errors import DomainError
from credits import selectors, services
from credits.models import Agent, ApiKey, Outlet

SEED = 7
ADMIN_URL = "http://127.0.0.1:8000/admin/"
DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "admin"
SEED_ACTOR = services.Actor.system("seed")
MILLI = Decimal("0.001")


@dataclass(frozen=True)
class OutletSpec:
    name: str
    timezone: str
    currency: str
    billing_cycle_day: int
    threshold: Decimal


OUTLETS = (
    OutletSpec("Northgate Property Management", "America/Chicago", "USD", 1, Decimal("75")),
    OutletSpec("Casa Verde Trattoria", "Europe/Rome", "EUR", 5, Decimal("40")),
    OutletSpec("Harbourview Dental Clinic", "Australia/Sydney", "AUD", 15, Decimal("100")),
    OutletSpec("Lindqvist Auto Service", "Europe/Stockholm", "SEK", 20, Decimal("60")),
    OutletSpec("Sakura Travel Desk", "Asia/Tokyo", "JPY", 25, Decimal("80")),
    OutletSpec("Maple Leaf Veterinary", "America/Toronto", "CAD", 10, Decimal("50")),
    OutletSpec("Thames Valley Plumbing", "Europe/London", "GBP", 28, Decimal("30")),
    OutletSpec("Bayside Fitness Club", "America/Los_Angeles", "USD", 1, Decimal("45")),
)
ROLES = (
    "Front Desk", "Appointments", "After-hours Line", "Billing Support",
    "Outbound Reminders", "Sales Qualifier", "Reservations", "Customer Feedback",
)
PERSONAS = ("Ava", "Leo", "Maya", "Noah", "Iris", "Felix", "Zara", "Omar", "Nina", "Hugo", "Lena", "Theo")
AGENT_THRESHOLDS = (Decimal("25"), Decimal("50"), Decimal("150"))
TOP_UPS = (Decimal("500"), Decimal("1000"), Decimal("2000"), Decimal("5000"))
ALLOWANCES = (Decimal("250"), Decimal("500"), Decimal("750"), Decimal("1000"))

# How each agent's story ends. Exactly one agent (the third one seeded) is "depleted" instead.
HEALTHY, LOW, ALLOWANCE, DEPLETED = "healthy", "low", "allowance", "depleted"
PROFILE_CYCLE = (HEALTHY, LOW, HEALTHY, ALLOWANCE, HEALTHY, LOW)
DEPLETED_AGENT_INDEX = 2


@dataclass
class SeedReport:
    outlets: int = 0
    agents: int = 0
    entries: int = 0
    api_keys: list[tuple[Outlet, str]] = field(default_factory=list)


def _fraction(rng: random.Random, low: float, high: float) -> Decimal:
    """A random share between low and high, to three places."""
    return Decimal(rng.randint(round(low * 1000), round(high * 1000))) * MILLI


def _split(rng: random.Random, total: Decimal, parts: int) -> list[Decimal]:
    """`total` cut into `parts` uneven positive pieces that add up to it exactly."""
    weights = [rng.randint(50, 150) for _ in range(parts)]
    pieces = [(total * weight / sum(weights)).quantize(MILLI, rounding=ROUND_DOWN) for weight in weights[:-1]]
    return pieces + [total - sum(pieces)]


def _ensure_superuser() -> None:
    """The demo `admin` / `admin`, only when there is no superuser at all: an installation with admins is left alone."""
    User = get_user_model()
    if User._default_manager.filter(is_superuser=True).exists():
        return
    if User._default_manager.filter(username=DEMO_ADMIN_USERNAME).exists():
        return  # a non-superuser named admin: not ours to promote; the login line says what to do
    User._default_manager.create_superuser(
        username=DEMO_ADMIN_USERNAME, email="admin@example.com", password=DEMO_ADMIN_PASSWORD
    )


def _login_line() -> str:
    User = get_user_model()
    demo = User._default_manager.filter(username=DEMO_ADMIN_USERNAME, is_superuser=True, is_active=True).first()
    if demo is not None and demo.check_password(DEMO_ADMIN_PASSWORD):
        return f"Admin: {ADMIN_URL}  login: {DEMO_ADMIN_USERNAME} / {DEMO_ADMIN_PASSWORD}"
    if User._default_manager.filter(is_superuser=True).exists():
        return f"Admin: {ADMIN_URL}  login: your existing superuser (no demo admin was created)"
    return f"Admin: {ADMIN_URL}  no superuser yet: run `manage.py createsuperuser`"


def _seed_outlets(count: int) -> list[Outlet]:
    outlets = []
    for index in range(count):
        spec = OUTLETS[index % len(OUTLETS)]
        round_ = index // len(OUTLETS)
        outlet = Outlet(
            name=spec.name if round_ == 0 else f"{spec.name} {round_ + 1}",
            timezone=spec.timezone,
            currency=spec.currency,
            billing_cycle_day=spec.billing_cycle_day,
            low_balance_threshold=spec.threshold,
        )
        outlet.full_clean()
        outlet.save()
        outlets.append(outlet)
    return outlets


def _seed_agents(rng: random.Random, outlet: Outlet, count: int) -> list[Agent]:
    agents, external_ids = [], set()
    personas = rng.sample(PERSONAS, min(count, len(PERSONAS)))
    for index in range(count):
        role = ROLES[index % len(ROLES)]
        if index >= len(ROLES):
            role = f"{role} {index // len(ROLES) + 1}"
        persona = personas[index % len(personas)]
        external_id = f"agt_{rng.getrandbits(48):012x}"
        while external_id in external_ids:
            external_id = f"agt_{rng.getrandbits(48):012x}"
        external_ids.add(external_id)
        agent = Agent(
            outlet=outlet,
            name=f"{role} ({persona})",
            external_id=external_id,
            low_balance_threshold=rng.choice(AGENT_THRESHOLDS) if rng.random() < 0.3 else None,
        )
        agent.full_clean()
        agent.save()
        agents.append(agent)
    return agents


def _profile(agent_index: int) -> str:
    if agent_index == DEPLETED_AGENT_INDEX:
        return DEPLETED
    return PROFILE_CYCLE[agent_index % len(PROFILE_CYCLE)]


def _seed_ledger(rng: random.Random, outlet: Outlet, agents: list[Agent], first_agent_index: int) -> int:
    """An outlet's history: a top-up each, a few ingest batches of consumption, then a set or a clear for some.

    Healthy agents end above their threshold, low ones between 0 and it, one agent is cleared to 0.
    Returns the number of ledger entries written.
    """
    entries = 0
    batches = rng.randint(4, 6)
    consumption: dict[uuid.UUID, list[Decimal]] = {}
    profiles = {agent.pk: _profile(first_agent_index + index) for index, agent in enumerate(agents)}

    for agent in agents:
        top_up = rng.choice(TOP_UPS)
        services.credits_add(agent=agent, amount=top_up, actor=SEED_ACTOR, reason="Initial top-up")
        entries += 1
        threshold = agent.effective_threshold
        if profiles[agent.pk] == HEALTHY:
            end = threshold + (top_up - threshold) * _fraction(rng, 0.35, 0.85)
        elif profiles[agent.pk] == LOW:
            end = threshold * _fraction(rng, 0.10, 0.80)
        else:
            end = top_up * _fraction(rng, 0.05, 0.60)
        consumption[agent.pk] = _split(rng, top_up - end.quantize(MILLI), batches)

    for batch in range(batches):
        written = services.credits_consume(
            debits={agent_id: amounts[batch] for agent_id, amounts in consumption.items()},
            ingest_batch_id=uuid.uuid4(),
            actor=SEED_ACTOR,
            reason=f"Usage ingest, batch {batch + 1} of {batches}",
        )
        entries += len(written)

    for agent in agents:
        if profiles[agent.pk] == ALLOWANCE:
            allowance = rng.choice(ALLOWANCES)
            reason = f"New billing cycle: monthly allowance of {allowance}"
            services.credits_set(agent=agent, amount=allowance, actor=SEED_ACTOR, reason=reason)
            entries += 1
        elif profiles[agent.pk] == DEPLETED:
            services.credits_clear(agent=agent, actor=SEED_ACTOR, reason="Trial ended: remaining credits cleared")
            entries += 1
    return entries


def _seed_api_keys(outlets: list[Outlet]) -> list[tuple[Outlet, str]]:
    keys = []
    for outlet in outlets:
        _, raw_key = services.api_key_create(outlet=outlet, name="Demo integration", scopes=ApiKey.Scope.values)
        keys.append((outlet, raw_key))
    return keys


def _seed(outlet_count: int, agents_per_outlet: int) -> SeedReport:
    rng = random.Random(SEED)
    report = SeedReport()
    outlets = _seed_outlets(outlet_count)
    for outlet in outlets:
        agents = _seed_agents(rng, outlet, agents_per_outlet)
        report.entries += _seed_ledger(rng, outlet, agents, first_agent_index=report.agents)
        report.agents += len(agents)
    report.outlets = len(outlets)
    report.api_keys = _seed_api_keys(outlets)
    return report


class Command(BaseCommand):
    help = "Create demo outlets, agents, ledger history and API keys, plus an admin/admin superuser if there is none."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Seed only when there is no outlet yet.")
        parser.add_argument("--outlets", type=int, default=3, metavar="N", help="Outlets to create (default 3).")
        parser.add_argument("--agents", type=int, default=4, metavar="N", help="Agents per outlet (default 4).")

    def handle(self, *args, if_empty, outlets, agents, **options):
        if outlets < 1:
            raise CommandError(f"--outlets must be 1 or more, got {outlets}.")
        if agents < 1:
            raise CommandError(f"--agents must be 1 or more, got {agents}.")

        report = None
        try:
            with transaction.atomic():
                _ensure_superuser()
                existing = selectors.outlet_list().count() if if_empty else 0
                if not existing:
                    report = _seed(outlets, agents)
        except DomainError as exc:
            raise CommandError(f"Seeding failed, nothing was written: {exc.message}") from None

        if report is None:
            self.stdout.write(
                f"Kept the existing data ({existing} outlet{'' if existing == 1 else 's'} present); "
                "--if-empty seeds an empty database only."
            )
        else:
            for outlet, raw_key in report.api_keys:
                self.stdout.write(f"API key for {outlet.name}: {raw_key}")
            self.stdout.write(
                f"Seeded {report.outlets} outlets, {report.agents} agents, {report.entries} ledger entries and "
                f"{len(report.api_keys)} API keys with all scopes (the keys above are not shown again)."
            )
        self.stdout.write(_login_line())
