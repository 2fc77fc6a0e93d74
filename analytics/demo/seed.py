"""The demo data set of `manage.py seed_demo`: small, realistic, repeatable, for a first look at the admin and API.

Outlets and agents are plain rows; everything else goes through the services the API uses:
balance changes through `credits.services`, calls and chats through
`usage.services.upsert_interactions`, their usage through `usage.services.ingest_records`
(which posts one CONSUME entry per agent per batch: a batch per day of use, taking effect at its
latest record), top-ups with the day they took effect (`effective_at`). So the demo is what
production would have written, its ledger spans the 90 days, and `reconcile` passes on it. Random choices come from `random.Random(SEED)`: the same
arguments give the same names, amounts and balances on every run; dates count back 90 days from
the current hour. `--if-empty` (what `make run` uses) leaves a database that already has outlets alone.
In the first outlet one agent has an auto top-up rule from the pool and another is enforced (`block`) with a
call's hold live, so the admin shows both.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from analytics.demo.usage import AgentSetup, UsageGenerator
from credits import pool, selectors, services
from credits.controls import Enforcement, TopUpSource
from credits.grants import GrantTerms
from credits.holds.services import MAX_TTL_SECONDS, hold_place
from credits.models import ZERO, Agent, ApiKey, CreditAccount, CreditGrant, CreditLedgerEntry, Outlet
from usage import services as usage_services

SEED = 7
DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "admin"
SEED_ACTOR = services.Actor.system("seed")
MILLI = Decimal("0.001")
DEFAULT_RECORDS = 20_000
INGEST_BATCH = 1000  # the API's largest batch


@dataclass(frozen=True)
class OutletSpec:
    name: str
    timezone: str
    currency: str
    billing_cycle_day: int
    threshold: Decimal
    lang: str = "en"


OUTLETS = (
    OutletSpec("Northgate Property Management", "America/Chicago", "USD", 1, Decimal("75")),
    OutletSpec("Casa Verde Trattoria", "Europe/Rome", "EUR", 5, Decimal("40"), "it"),
    OutletSpec("Harbourview Dental Clinic", "Australia/Sydney", "AUD", 15, Decimal("100")),
    OutletSpec("Lindqvist Auto Service", "Europe/Stockholm", "SEK", 20, Decimal("60"), "sv"),
    OutletSpec("Sakura Travel Desk", "Asia/Tokyo", "JPY", 25, Decimal("80"), "ja"),
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
PACK_ROUNDING = Decimal(10)
TOP_UP_HOUR = timedelta(hours=9)  # UTC
POOL_PACK = Decimal("5000")
PROMOTION = Decimal("100")
DEMO_HOLD = Decimal("25")
DEMO_TOP_UP = Decimal("200")
DEMO_TOP_UPS_PER_DAY = 2

# How each agent's story ends. Exactly one agent (the third one seeded) is "depleted" instead.
HEALTHY, LOW, ALLOWANCE, DEPLETED = "healthy", "low", "allowance", "depleted"
PROFILE_CYCLE = (HEALTHY, LOW, HEALTHY, ALLOWANCE, HEALTHY, LOW)
DEPLETED_AGENT_INDEX = 2

@dataclass
class SeedReport:
    outlets: int = 0
    agents: int = 0
    entries: int = 0
    interactions: int = 0
    records: int = 0
    api_keys: list[tuple[Outlet, str]] = field(default_factory=list)
    blocked: Agent | None = None  # enforced, with a call's hold live
    refills: Agent | None = None  # auto top-up from the outlet pool


def _fraction(rng: random.Random, low: float, high: float) -> Decimal:
    """A random share between low and high, to three places."""
    return Decimal(rng.randint(round(low * 1000), round(high * 1000))) * MILLI


def ensure_superuser() -> None:
    """The demo `admin` / `admin`, only when there is no superuser at all: an installation with admins is left alone."""
    User = get_user_model()
    if User._default_manager.filter(is_superuser=True).exists():
        return
    if User._default_manager.filter(username=DEMO_ADMIN_USERNAME).exists():
        return  # a non-superuser named admin: not ours to promote; the login line says what to do
    User._default_manager.create_superuser(
        username=DEMO_ADMIN_USERNAME, email="admin@example.com", password=DEMO_ADMIN_PASSWORD
    )


def login_line() -> str:
    admin_url = f"{settings.SITE_URL}/admin/"
    User = get_user_model()
    demo = User._default_manager.filter(username=DEMO_ADMIN_USERNAME, is_superuser=True, is_active=True).first()
    if demo is not None and demo.check_password(DEMO_ADMIN_PASSWORD):
        return f"Admin: {admin_url}  login: {DEMO_ADMIN_USERNAME} / {DEMO_ADMIN_PASSWORD}"
    if User._default_manager.filter(is_superuser=True).exists():
        return f"Admin: {admin_url}  login: your existing superuser (no demo admin was created)"
    return f"Admin: {admin_url}  no superuser yet: run `manage.py createsuperuser`"


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


def _seed_usage(setup: AgentSetup, usage: list[tuple[dict, list[dict]]], report: SeedReport) -> None:
    """Posts one day's interactions and their records through the API's services, in batches of at most 1000."""
    outlet = setup.agent.outlet
    batch: list[tuple[dict, list[dict]]] = []
    size = 0
    for item in [*usage, None]:
        if item is None or size + len(item[1]) > INGEST_BATCH:
            if batch:
                interactions = usage_services.upsert_interactions(outlet=outlet, interactions=[i for i, _ in batch])
                records = [record for _, batch_records in batch for record in batch_records]
                result = usage_services.ingest_records(outlet=outlet, records=records, actor=SEED_ACTOR)
                report.interactions += interactions.created
                report.records += result.accepted
            batch, size = [], 0
        if item is not None:
            batch.append(item)
            size += len(item[1])


def _usage_days(usage: list[tuple[dict, list[dict]]], today: datetime) -> list[tuple[datetime, list]]:
    """The interactions grouped by the UTC day they started, oldest first; today alone when there are none."""
    days: dict[datetime, list] = {}
    for item in usage:
        started = datetime.fromisoformat(item[0]["started_at"])
        days.setdefault(started.replace(hour=0, minute=0, second=0, microsecond=0), []).append(item)
    return list(days.items()) or [(today, [])]


def _end_balance(rng: random.Random, profile: str, threshold: Decimal) -> Decimal:
    """Where the agent's story ends: healthy above its threshold, low between 0 and it, others anywhere above 0."""
    if profile == HEALTHY:
        return threshold + rng.choice(TOP_UPS) * _fraction(rng, 0.35, 0.85)
    if profile == LOW:
        return threshold * _fraction(rng, 0.10, 0.75)
    return rng.choice(TOP_UPS) * _fraction(rng, 0.05, 0.60)


def _plan_top_ups(rng: random.Random, daily_credits: list[Decimal], threshold: Decimal, end: Decimal) -> dict[int, Decimal]:
    """Whole-credit top-ups by day index: one before the first usage, one the day after the balance fell below the
    threshold, and on the last day whatever is still missing, so the balance ends at `end` (at most a credit above)."""
    total = (sum(daily_credits, Decimal(0)) + end).to_integral_value(rounding=ROUND_CEILING)
    # A pack of credits as a customer buys it: a round ten, lasting a few weeks.
    pack = max((total / rng.randint(3, 5) / PACK_ROUNDING).to_integral_value(rounding=ROUND_CEILING) * PACK_ROUNDING, PACK_ROUNDING)
    plan, balance, remaining, last = {}, Decimal(0), total, len(daily_credits) - 1
    for index, credits in enumerate(daily_credits):
        if remaining > 0 and (index == 0 or index == last or balance < threshold):
            plan[index] = remaining if index == last else min(pack, remaining)
            balance += plan[index]
            remaining -= plan[index]
        balance -= credits
    return plan


def _seed_history(
    rng: random.Random, generator: UsageGenerator, outlet_index: int, agents: list[Agent],
    first_agent_index: int, records_per_agent: list[int], report: SeedReport,
) -> None:
    """An outlet's 90 days, day by day: each agent's usage (a CONSUME entry on each day it was used) and a top-up
    whenever its balance ran low, then a set or a clear for some.

    The top-ups add up to the agent's usage plus where its profile ends: healthy agents above their
    threshold, low ones between 0 and it, one agent cleared to 0. Each takes effect on its day
    (`effective_at`), so the ledger and the credit history show 90 days of history, not the seed's minute.
    """
    spec = OUTLETS[outlet_index % len(OUTLETS)]
    profiles = {agent.pk: _profile(first_agent_index + index) for index, agent in enumerate(agents)}
    for agent, records in zip(agents, records_per_agent):
        setup = generator.setup(agent, agent.name, spec.lang)
        days = _usage_days(generator.interactions(setup, records), generator.base.replace(hour=0))
        daily_credits = [sum((r["credits"] for _, rs in items for r in rs), Decimal(0)) for _, items in days]
        end = _end_balance(rng, profiles[agent.pk], agent.effective_threshold)
        top_ups = _plan_top_ups(rng, daily_credits, agent.effective_threshold, end)
        for index, (day, items) in enumerate(days):
            if index in top_ups:
                # In the morning, or just as the day's first call started when that was earlier (or is today).
                first_call = min((datetime.fromisoformat(item[0]["started_at"]) for item in items), default=generator.base)
                services.credits_add(
                    agent=agent, amount=top_ups[index], actor=SEED_ACTOR, effective_at=min(day + TOP_UP_HOUR, first_call),
                    reason="Initial top-up" if index == 0 else "Top-up: the balance was running low",
                )
            _seed_usage(setup, items, report)

    for agent in agents:
        if profiles[agent.pk] == ALLOWANCE:
            allowance = rng.choice(ALLOWANCES)
            reason = f"New billing cycle: monthly allowance of {allowance}"
            services.credits_set(agent=agent, amount=allowance, actor=SEED_ACTOR, reason=reason)
        elif profiles[agent.pk] == DEPLETED:
            services.credits_clear(agent=agent, actor=SEED_ACTOR, reason="Trial ended: remaining credits cleared")
    _seed_grants(rng, agents[0].outlet, [agent for agent in agents if profiles[agent.pk] == HEALTHY])


def _seed_grants(rng: random.Random, outlet: Outlet, healthy: list[Agent]) -> None:
    """The outlet buys a pack for its pool and hands part of it to one agent; healthy agents get a promotion that
    expires within the week, drawn before their purchases, so the dashboard has grants about to expire."""
    services.pool_add(outlet=outlet, amount=POOL_PACK, actor=SEED_ACTOR, reason="Outlet credit pack")
    for index, agent in enumerate(healthy):
        if index == 0:
            pool.pool_allocate(agent=agent, amount=POOL_PACK / 10, actor=SEED_ACTOR, reason="Share of the outlet pack")
        expires_at = timezone.now() + timedelta(days=rng.randint(2, 6))
        terms = GrantTerms(source=CreditGrant.Source.PROMOTION, priority=10, expires_at=expires_at)
        services.credits_add(agent=agent, amount=PROMOTION, actor=SEED_ACTOR, reason="Launch promotion", terms=terms)


def _seed_spend_controls(agents: list[Agent], report: SeedReport) -> None:
    """The first agent refills from the outlet pool when it falls below its threshold; the one with the most credit
    available among the others is enforced (`block`) with a call's hold live for the next day."""
    refills = agents[0]
    refills.top_up_threshold, refills.top_up_amount = refills.effective_threshold, DEMO_TOP_UP
    refills.top_up_source, refills.top_up_max_per_day = TopUpSource.POOL, DEMO_TOP_UPS_PER_DAY
    refills.full_clean()
    refills.save()
    accounts = selectors.with_available(CreditAccount.objects.filter(agent__in=agents[1:] or agents))
    account = accounts.select_related("agent").order_by("-available", "agent__external_id").first()
    blocked = account.agent
    blocked.enforcement, blocked.overdraft_limit = Enforcement.BLOCK, ZERO
    blocked.full_clean()
    blocked.save()
    amount = min(DEMO_HOLD, (account.available / 2).to_integral_value())
    if amount > 0:
        hold_place(
            agent=blocked, amount=amount, actor=SEED_ACTOR, ttl_seconds=MAX_TTL_SECONDS, reference="demo-call-in-progress"
        )
    report.blocked, report.refills = blocked, refills


def _seed_api_keys(outlets: list[Outlet]) -> list[tuple[Outlet, str]]:
    keys = []
    for outlet in outlets:
        _, raw_key = services.api_key_create(outlet=outlet, name="Demo integration", scopes=ApiKey.Scope.values)
        keys.append((outlet, raw_key))
    return keys


def seed(outlet_count: int, agents_per_outlet: int, records: int) -> SeedReport:
    """Outlets with their agents, each agent's history, and an API key per outlet: all through the services."""
    rng = random.Random(SEED)
    report = SeedReport()
    # Usage draws from its own generator, so that --records changes no name, threshold or profile.
    generator = UsageGenerator(random.Random(SEED + 1), base=timezone.now().replace(minute=0, second=0, microsecond=0))
    total_agents = outlet_count * agents_per_outlet
    budgets = [records // total_agents + (1 if index < records % total_agents else 0) for index in range(total_agents)]
    outlets = _seed_outlets(outlet_count)
    for outlet_index, outlet in enumerate(outlets):
        agents = _seed_agents(rng, outlet, agents_per_outlet)
        _seed_history(
            rng, generator, outlet_index, agents, report.agents,
            budgets[report.agents : report.agents + len(agents)], report,
        )
        report.agents += len(agents)
        if outlet_index == 0:
            _seed_spend_controls(agents, report)
    report.outlets = len(outlets)
    report.entries = CreditLedgerEntry.objects.filter(outlet__in=outlets).count()
    report.api_keys = _seed_api_keys(outlets)
    return report
