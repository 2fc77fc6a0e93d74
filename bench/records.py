"""Deterministic synthetic usage records, shaped like a voice-agent platform's traffic: in Python (`generate`), or
in PostgreSQL (`LOAD_USAGE`) where a benchmark measures reads and needs millions of rows fast."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg

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


# Calls of 12 records each; a call's records share its agent and start within two minutes.
LOAD_USAGE = """
INSERT INTO usage_usagerecord (
    outlet_id, agent_id, event_id, interaction_id, type, model, provider, product, voice, api_key_label,
    end_user_id, count, unit, credits, cost_usd, latency_ms, conversation_id, message_id, task_id, contact_id,
    blueprint_id, bot_id, dataset_id, skillset_id, ability_id, meta, ingest_batch_id, occurred_at)
SELECT a.outlet_id, a.id, 'ev-' || g, 'call-' || (g / 12), k.type, k.model, k.provider,
       (ARRAY['voice-agent', 'chat-widget', 'outbound-campaign'])[1 + (g / 12) %% 3],
       CASE WHEN k.type = 'TTS' THEN (ARRAY['alloy', 'nova', 'rachel', 'adam'])[1 + g %% 4] ELSE '' END,
       (ARRAY['prod-backend', 'bi-export', 'staging'])[1 + (g / 12) %% 3],
       'user-' || ((g / 12) %% 50000), u.units, k.unit, round(u.units * k.credit_rate, 6), round(u.units * k.cost_rate, 8),
       k.fast + (hashint4(g) & 1023) * (k.slow - k.fast) / 1023, 'call-' || (g / 12), 'msg-' || g,
       '', '', '', '', '', '', '', '{"lang": "en"}'::jsonb, %(batch)s,
       %(end)s - make_interval(secs => ((g / 12)::bigint * 104729) %% %(span)s + (g %% 12) * 10)
FROM generate_series(%(first)s::int, %(last)s::int) AS g
JOIN bench_agent AS a ON a.n = ((g / 12)::bigint * 7919) %% %(agents)s
JOIN bench_kind AS k ON k.n = hashint4(g::int # 12345) & 7
CROSS JOIN LATERAL (SELECT k.low + (hashint4(g) & 4095) * (k.high - k.low) / 4095 AS units) AS u
"""

KINDS = [
    # type, unit, model, provider, (count range), credits per unit, cost per unit, latency range ms
    ("CONVERSATION", "tokens", "gpt-4o", "openai", (200, 4000), 0.00002, 0.0000025, (300, 2500)),
    ("CONVERSATION", "tokens", "gpt-4o-mini", "openai", (200, 4000), 0.00001, 0.0000006, (200, 1500)),
    ("CONVERSATION", "tokens", "claude-3-5-sonnet", "anthropic", (200, 4000), 0.00003, 0.000003, (400, 3000)),
    ("TRANSITION", "tokens", "gpt-4o-mini", "openai", (50, 400), 0.00001, 0.0000006, (80, 400)),
    ("TTS", "characters", "eleven_turbo_v2", "elevenlabs", (40, 900), 0.0003, 0.00003, (150, 900)),
    ("TTS", "characters", "tts-1", "openai", (40, 900), 0.0002, 0.000015, (150, 700)),
    ("STT", "seconds", "nova-2", "deepgram", (2, 60), 0.01, 0.0001, (100, 700)),
    ("TELEPHONY", "seconds", "pstn", "twilio", (10, 600), 0.02, 0.00022, (0, 1)),
]


def create_kinds(conn: psycopg.Connection, *, temporary: bool = False) -> None:
    """`bench_kind`: the KINDS the generating SQL draws record types, units, models and rates from."""
    conn.execute(
        f"CREATE {'TEMP ' if temporary else ''}TABLE bench_kind (n int PRIMARY KEY, type text, unit text, model text, "
        "provider text, low int, high int, credit_rate numeric, cost_rate numeric, fast int, slow int)"
    )
    with conn.cursor().copy("COPY bench_kind FROM STDIN") as copy:
        for n, (kind, unit, model, provider, (low, high), credit_rate, cost_rate, (fast, slow)) in enumerate(KINDS):
            copy.write_row((n, kind, unit, model, provider, low, high, credit_rate, cost_rate, fast, slow))
