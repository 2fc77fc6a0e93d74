"""`manage.py seed_demo`: a small, realistic, repeatable data set for a first look at the admin and the API.

Outlets and agents are plain rows; everything else goes through the services the API uses:
balance changes through `credits.services`, calls and chats through
`usage.services.upsert_interactions`, their usage through `usage.services.ingest_records`
(which posts one CONSUME entry per agent per batch). So the demo is what production would have
written and `reconcile` passes on it. Random choices come from `random.Random(SEED)`: the same
arguments give the same names, amounts and balances on every run; dates count back 90 days from
the current hour. `--if-empty` (what `make run` uses) leaves a database that already has outlets alone.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from analytics.services import rollup_dirty_buckets
from config.errors import DomainError
from credits import selectors, services
from credits.models import Agent, ApiKey, CreditLedgerEntry, Outlet
from usage import services as usage_services

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
OUTBOUND_ROLES = {"Outbound Reminders", "Sales Qualifier"}
PERSONAS = ("Ava", "Leo", "Maya", "Noah", "Iris", "Felix", "Zara", "Omar", "Nina", "Hugo", "Lena", "Theo")
AGENT_THRESHOLDS = (Decimal("25"), Decimal("50"), Decimal("150"))
TOP_UPS = (Decimal("500"), Decimal("1000"), Decimal("2000"), Decimal("5000"))
ALLOWANCES = (Decimal("250"), Decimal("500"), Decimal("750"), Decimal("1000"))

# How each agent's story ends. Exactly one agent (the third one seeded) is "depleted" instead.
HEALTHY, LOW, ALLOWANCE, DEPLETED = "healthy", "low", "allowance", "depleted"
PROFILE_CYCLE = (HEALTHY, LOW, HEALTHY, ALLOWANCE, HEALTHY, LOW)
DEPLETED_AGENT_INDEX = 2

# Usage: what a call or a chat consumes, priced at (roughly) the providers' list prices.
DEFAULT_RECORDS = 20_000
DAYS = 90
INGEST_BATCH = 1000  # the API's largest batch
CREDITS_PER_USD = Decimal(140)  # a credit is a US cent of cost, plus a 40% margin
MILLION = Decimal(1_000_000)
# model, provider, $ per 1M input tokens, $ per 1M output tokens, latency range (ms), weight
LLMS = (
    ("gpt-4o", "openai", Decimal("2.50"), Decimal("10.00"), (700, 2500), 40),
    ("gpt-4o-mini", "openai", Decimal("0.15"), Decimal("0.60"), (300, 1200), 35),
    ("claude-3-5-sonnet", "anthropic", Decimal("3.00"), Decimal("15.00"), (800, 2500), 25),
)
TRANSITION_LLM = LLMS[1]  # routing between steps: small prompts on the fast model
# voice, provider, model, $ per 1M characters
VOICES = (
    ("alloy", "openai", "tts-1", Decimal("15")),
    ("nova", "openai", "tts-1", Decimal("15")),
    ("rachel", "elevenlabs", "eleven_turbo_v2_5", Decimal("180")),
)
# model, provider, $ per minute of audio
TRANSCRIBERS = (("whisper-1", "openai", Decimal("0.006")), ("nova-2", "deepgram", Decimal("0.0043")))
TELEPHONY_PER_MINUTE = Decimal("0.014")  # twilio, billed per started minute
# (shortest, longest seconds, weight): every drop-off bucket of the spend overview gets calls
DURATIONS = ((10, 30, 20), (30, 60, 20), (60, 180, 35), (180, 300, 15), (300, 600, 10))
STATUSES = (("completed", 89), ("failed", 11))
SENTIMENTS = {
    "completed": (("positive", 40), ("neutral", 35), ("negative", 13), ("unknown", 12)),
    "failed": (("negative", 45), ("unknown", 55)),
}
FAILURES = ("caller_hung_up", "no_answer", "llm_timeout", "transfer_failed")
CAMPAIGNS = ("spring", "renewals", "win-back")
API_KEY_LABELS = {"voice-agent": "platform-voice", "outbound-campaign": "campaign-runner", "chat-widget": "web-widget"}


@dataclass
class SeedReport:
    outlets: int = 0
    agents: int = 0
    entries: int = 0
    interactions: int = 0
    records: int = 0
    api_keys: list[tuple[Outlet, str]] = field(default_factory=list)


@dataclass(frozen=True)
class AgentSetup:
    """How one agent is configured on the platform: its model, voice, transcriber and products."""

    agent: Agent
    lang: str
    llm: tuple
    voice: tuple
    transcriber: tuple
    outbound_share: float  # of its calls: outbound campaign calls rather than inbound ones
    chat_share: float
    users: tuple[str, ...]


def _fraction(rng: random.Random, low: float, high: float) -> Decimal:
    """A random share between low and high, to three places."""
    return Decimal(rng.randint(round(low * 1000), round(high * 1000))) * MILLI


def _weighted(rng: random.Random, choices: tuple) -> object:
    """One of `choices`, tuples whose last item is the weight."""
    return rng.choices(choices, weights=[choice[-1] for choice in choices])[0]


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


class UsageGenerator:
    """An agent's calls and chats over the last 90 days, as the platform would post them."""

    def __init__(self, rng: random.Random, base: datetime):
        self.rng = rng
        self.base = base  # the current hour: nothing happens after it
        midnight = base.replace(hour=0)
        self.days = [midnight - timedelta(days=days_ago) for days_ago in range(DAYS)]
        # Weekdays are busier than weekends, and traffic grew by half over the period.
        weights = [
            (0.45 if day.weekday() >= 5 else 1.0) * (1.0 - 0.35 * days_ago / DAYS)
            for days_ago, day in enumerate(self.days)
        ]
        self.cumulative = [sum(weights[: index + 1]) for index in range(len(weights))]

    def setup(self, agent: Agent, role: str, lang: str) -> AgentSetup:
        rng = self.rng
        outbound_role = role.split(" (")[0].rstrip(" 0123456789") in OUTBOUND_ROLES
        return AgentSetup(
            agent=agent,
            lang=lang,
            llm=_weighted(rng, LLMS),
            voice=rng.choice(VOICES),
            transcriber=rng.choice(TRANSCRIBERS),
            outbound_share=1.0 if outbound_role else rng.choice((0.0, 0.1, 0.3)),
            chat_share=rng.choice((0.0, 0.15, 0.4)),
            users=tuple(f"usr_{rng.getrandbits(32):08x}" for _ in range(60)),
        )

    def interactions(self, setup: AgentSetup, records: int) -> list[tuple[dict, list[dict]]]:
        """Interactions (oldest first) with their usage records, about `records` of them in all."""
        made, count = [], 0
        while count < records:
            interaction, usage = self._interaction(setup, self._finished())
            made.append((interaction, usage))
            count += len(usage)
        if records and self.rng.random() < 0.6:  # a call or a chat going on right now
            made.append(self._interaction(setup, self._in_progress()))
        made.sort(key=lambda item: item[0]["started_at"])
        return made

    def _finished(self) -> tuple[datetime, int, str]:
        rng = self.rng
        low, high, _ = _weighted(rng, DURATIONS)
        duration = rng.randint(low, high - 1)
        day = self.days[rng.choices(range(DAYS), cum_weights=self.cumulative)[0]]
        hour = min(max(rng.gauss(14, 3.5), 0), 23.9)
        started = day + timedelta(seconds=round(hour * 3600))
        if started + timedelta(seconds=duration) > self.base:
            started -= timedelta(days=1)  # later today has not happened yet
        return started, duration, _weighted(rng, STATUSES)[0]

    def _in_progress(self) -> tuple[datetime, int, str]:
        elapsed = self.rng.randint(20, 600)
        started = max(self.base - timedelta(seconds=elapsed), self.base.replace(hour=0))
        return started, int((self.base - started).total_seconds()), "in_progress"

    def _interaction(self, setup: AgentSetup, when: tuple[datetime, int, str]) -> tuple[dict, list[dict]]:
        rng = self.rng
        started, duration, status = when
        voice = rng.random() >= setup.chat_share
        outbound = voice and rng.random() < setup.outbound_share
        product = "chat-widget" if not voice else "outbound-campaign" if outbound else "voice-agent"
        interaction_id = f"{'call' if voice else 'chat'}_{rng.getrandbits(64):016x}"
        lang = setup.lang if rng.random() < 0.85 else "en"
        meta = {"lang": lang}
        if product == "outbound-campaign":
            meta["campaign"] = rng.choice(CAMPAIGNS)
        turns = max(1, round(duration / (40 if voice else 45)))  # a turn: the caller speaks, the agent answers
        context = {
            "agent_id": setup.agent.pk,
            "interaction_id": interaction_id,
            "product": product,
            "api_key_label": API_KEY_LABELS[product],
            "end_user_id": rng.choice(setup.users),
            "conversation_id": interaction_id,
            "meta": meta,
        }
        if product == "outbound-campaign":
            context["task_id"] = f"task_{meta['campaign']}_{started:%Y%m%d}"
            context["contact_id"] = f"ct_{rng.getrandbits(40):010x}"
        if product == "chat-widget":
            context["bot_id"] = f"bot_{setup.agent.external_id.removeprefix('agt_')}"

        records = []
        for turn in range(turns):
            at = started + timedelta(seconds=duration * (turn + rng.uniform(0.2, 0.9)) / turns)
            turn_context = {**context, "message_id": f"{interaction_id}-m{turn + 1}"}
            if voice:
                records.append(self._stt(setup, turn_context, at, duration / turns))
            records.append(self._llm(setup, turn_context, at, turn))
            if rng.random() < 0.25:
                records.append(self._transition(turn_context, at))
            if voice:
                records.append(self._tts(setup, turn_context, at))
        ended = started + timedelta(seconds=duration)
        if voice and status != "in_progress":
            records.append(self._telephony(context, ended, duration, outbound=outbound))
        for number, record in enumerate(records, 1):
            record["event_id"] = f"{interaction_id}:{number}"

        interaction = {
            "interaction_id": interaction_id,
            "agent_id": setup.agent.pk,
            "channel": "voice" if voice else "chat",
            "status": status,
            "started_at": started.isoformat(),
            "ended_at": None if status == "in_progress" else ended.isoformat(),
            "duration_seconds": Decimal(duration),
            "sentiment": "unknown" if status == "in_progress" else _weighted(rng, SENTIMENTS[status])[0],
            "end_user_id": context["end_user_id"],
            "message_count": 2 * turns,
            "metadata": {**meta, **({"failure": rng.choice(FAILURES)} if status == "failed" else {})},
        }
        return interaction, records

    def _record(self, context: dict, at: datetime, cost: Decimal, **fields) -> dict:
        cost = cost.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        credits = (cost * CREDITS_PER_USD).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        occurred_at = min(at, self.base).isoformat()
        return {**context, **fields, "cost_usd": cost, "credits": credits, "occurred_at": occurred_at}

    def _llm(self, setup: AgentSetup, context: dict, at: datetime, turn: int) -> dict:
        rng = self.rng
        model, provider, input_price, output_price, (fastest, slowest), _ = (
            setup.llm if rng.random() < 0.8 else _weighted(rng, LLMS)
        )
        prompt, completion = 600 + 250 * turn + rng.randint(0, 400), rng.randint(40, 350)
        return self._record(
            context, at, (prompt * input_price + completion * output_price) / MILLION,
            type="CONVERSATION", model=model, provider=provider, count=prompt + completion, unit="tokens",
            latency_ms=rng.randint(fastest, slowest),
        )

    def _transition(self, context: dict, at: datetime) -> dict:
        rng = self.rng
        model, provider, input_price, output_price, _, _ = TRANSITION_LLM
        prompt, completion = rng.randint(40, 260), rng.randint(5, 40)
        return self._record(
            context, at, (prompt * input_price + completion * output_price) / MILLION,
            type="TRANSITION", model=model, provider=provider, count=prompt + completion, unit="tokens",
            latency_ms=rng.randint(80, 400),
        )

    def _tts(self, setup: AgentSetup, context: dict, at: datetime) -> dict:
        rng = self.rng
        voice, provider, model, price = setup.voice
        characters = rng.randint(40, 600)
        return self._record(
            context, at, characters * price / MILLION, type="TTS", model=model, provider=provider, voice=voice,
            count=characters, unit="characters", latency_ms=rng.randint(150, 900),
        )

    def _stt(self, setup: AgentSetup, context: dict, at: datetime, turn_seconds: float) -> dict:
        rng = self.rng
        model, provider, per_minute = setup.transcriber
        seconds = Decimal(str(round(rng.uniform(1.5, max(2.0, min(25.0, turn_seconds * 0.6))), 3)))
        return self._record(
            context, at, seconds * per_minute / 60, type="STT", model=model, provider=provider, count=seconds,
            unit="seconds", latency_ms=rng.randint(100, 600),
        )

    def _telephony(self, context: dict, at: datetime, duration: int, *, outbound: bool) -> dict:
        return self._record(
            {**context, "meta": {**context["meta"], "direction": "outbound" if outbound else "inbound"}},
            at, math.ceil(duration / 60) * TELEPHONY_PER_MINUTE, type="TELEPHONY", provider="twilio",
            count=Decimal(duration), unit="seconds",
        )


def _week(item: tuple[dict, list[dict]] | None) -> tuple[int, int] | None:
    return None if item is None else datetime.fromisoformat(item[0]["started_at"]).isocalendar()[:2]


def _seed_usage(setup: AgentSetup, usage: list[tuple[dict, list[dict]]], report: SeedReport) -> None:
    """Posts the agent's interactions and their records through the API's services: a batch a week, of at most 1000."""
    outlet = setup.agent.outlet
    batch: list[tuple[dict, list[dict]]] = []
    size = 0
    for item in [*usage, None]:
        if item is None or size + len(item[1]) > INGEST_BATCH or (batch and _week(item) != _week(batch[0])):
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


def _seed_history(
    rng: random.Random, generator: UsageGenerator, outlet_index: int, agents: list[Agent],
    first_agent_index: int, records_per_agent: list[int], report: SeedReport,
) -> None:
    """An outlet's history: a top-up each, 90 days of usage (its CONSUME entries), then a set or a clear for some.

    Each top-up covers the agent's usage and leaves it where its profile ends: healthy agents above
    their threshold, low ones between 0 and it, one agent cleared to 0.
    """
    spec = OUTLETS[outlet_index % len(OUTLETS)]
    profiles = {agent.pk: _profile(first_agent_index + index) for index, agent in enumerate(agents)}
    for agent, records in zip(agents, records_per_agent):
        setup = generator.setup(agent, agent.name, spec.lang)
        usage = generator.interactions(setup, records)
        consumed = sum(record["credits"] for _, usage_records in usage for record in usage_records)
        threshold = agent.effective_threshold
        if profiles[agent.pk] == HEALTHY:
            end = threshold + rng.choice(TOP_UPS) * _fraction(rng, 0.35, 0.85)
        elif profiles[agent.pk] == LOW:
            end = threshold * _fraction(rng, 0.10, 0.75)
        else:
            end = rng.choice(TOP_UPS) * _fraction(rng, 0.05, 0.60)
        # Whole credits, as a customer buys them: the balance ends at most one credit above `end`.
        top_up = (consumed + end).to_integral_value(rounding=ROUND_CEILING)
        services.credits_add(agent=agent, amount=top_up, actor=SEED_ACTOR, reason="Initial top-up")
        _seed_usage(setup, usage, report)

    for agent in agents:
        if profiles[agent.pk] == ALLOWANCE:
            allowance = rng.choice(ALLOWANCES)
            reason = f"New billing cycle: monthly allowance of {allowance}"
            services.credits_set(agent=agent, amount=allowance, actor=SEED_ACTOR, reason=reason)
        elif profiles[agent.pk] == DEPLETED:
            services.credits_clear(agent=agent, actor=SEED_ACTOR, reason="Trial ended: remaining credits cleared")


def _seed_api_keys(outlets: list[Outlet]) -> list[tuple[Outlet, str]]:
    keys = []
    for outlet in outlets:
        _, raw_key = services.api_key_create(outlet=outlet, name="Demo integration", scopes=ApiKey.Scope.values)
        keys.append((outlet, raw_key))
    return keys


def _seed(outlet_count: int, agents_per_outlet: int, records: int) -> SeedReport:
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
    report.outlets = len(outlets)
    report.entries = CreditLedgerEntry.objects.filter(outlet__in=outlets).count()
    report.api_keys = _seed_api_keys(outlets)
    return report


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
                _ensure_superuser()
                existing = selectors.outlet_list().count() if if_empty else 0
                if not existing:
                    report = _seed(outlets, agents, records)
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
        self.stdout.write(_login_line())
