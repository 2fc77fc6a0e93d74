"""Deterministic synthetic usage records, shaped like a voice-agent platform's traffic."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

TYPES = (
    # type, unit, models, (count range), credits per unit, cost per unit, latency range ms
    ("CONVERSATION", "tokens", ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"), (200, 4000), 0.00002, 0.0000025, (300, 2500)),
    ("TRANSITION", "tokens", ("gpt-4o-mini",), (50, 400), 0.00001, 0.0000006, (80, 400)),
    ("TTS", "characters", ("eleven_turbo_v2", "tts-1"), (40, 900), 0.0003, 0.00003, (150, 900)),
    ("STT", "seconds", ("whisper-1", "nova-2"), (2, 60), 0.01, 0.0001, (100, 700)),
    ("TELEPHONY", "seconds", ("pstn",), (10, 600), 0.02, 0.00022, (0, 1)),
)
VOICES = ("alloy", "nova", "rachel", "adam")
PRODUCTS = ("voice-agent", "chat-widget", "outbound-campaign")
KEYS = ("prod-backend", "bi-export", "staging")


def generate(
    *, count: int, agent_ids: list[str], hours: int = 90 * 24, seed: int = 42, prefix: str = "ev"
) -> Iterator[dict]:
    """`hours` is how far back the events spread: 90 days for a backfill, an hour or two for live traffic."""
    rng = random.Random(seed)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    span = hours * 3600
    for index in range(count):
        record_type, unit, models, (low, high), credit_rate, cost_rate, (fast, slow) = TYPES[rng.randrange(len(TYPES))]
        units = rng.randint(low, high)
        interaction = f"call-{index // 12}"
        yield {
            "event_id": f"{prefix}-{index}",
            "agent_id": agent_ids[rng.randrange(len(agent_ids))],
            "interaction_id": interaction,
            "type": record_type,
            "model": models[rng.randrange(len(models))],
            "provider": "twilio" if record_type == "TELEPHONY" else "openai",
            "product": PRODUCTS[rng.randrange(len(PRODUCTS))],
            "voice": VOICES[rng.randrange(len(VOICES))] if record_type == "TTS" else "",
            "api_key_label": KEYS[rng.randrange(len(KEYS))],
            "end_user_id": f"user-{rng.randrange(50000)}",
            "count": units,
            "unit": unit,
            "credits": f"{units * credit_rate:.6f}",
            "cost_usd": f"{units * cost_rate:.8f}",
            "latency_ms": rng.randint(fast, slow),
            "conversation_id": interaction,
            "message_id": f"msg-{index}",
            "meta": {"lang": rng.choice(("en", "es", "de")), "campaign": rng.choice(("spring", "renewals", "none"))},
            "occurred_at": (end - timedelta(seconds=rng.randrange(span))).isoformat(),
        }
