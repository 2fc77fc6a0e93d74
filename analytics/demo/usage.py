"""The demo's usage: an agent's calls and chats over the last 90 days, as the platform would post them.

Each call is priced at (roughly) the providers' list prices: turns of speech to text, the LLM and
text to speech, sometimes a transition, and the telephony minutes. Every choice comes from the
`random.Random` it is given, so the same seed gives the same usage.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from config.money import COST_PLACES, CREDIT_QUANTUM, quantum
from credits.models import Agent

OUTBOUND_ROLES = {"Outbound Reminders", "Sales Qualifier"}
DAYS = 90
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
COST_QUANTUM = quantum(COST_PLACES)


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


def _weighted(rng: random.Random, choices: tuple) -> object:
    """One of `choices`, tuples whose last item is the weight."""
    return rng.choices(choices, weights=[choice[-1] for choice in choices])[0]


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
        cost = cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
        credits = (cost * CREDITS_PER_USD).quantize(CREDIT_QUANTUM, rounding=ROUND_HALF_UP)
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
