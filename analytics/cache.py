"""The answer cache: an analytics answer, kept per endpoint, outlet and question until the outlet's usage changes.

The API's views and the admin dashboard both cache their rendered answers here.
"""

import hashlib
import json
from collections.abc import Callable
from uuid import UUID

from django.conf import settings
from django.core.cache import cache

from analytics.services import ALL_OUTLETS, answers_version
from config.api import dates  # read as dates.today_utc(): the tests fix "today" there


def answer_cache_key(name: str, outlet_id: UUID | None, question: dict) -> str:
    """The endpoint, the outlet scope, the scope's answers version and a digest of the normalised question."""
    scope = str(outlet_id) if outlet_id is not None else ALL_OUTLETS
    digest = hashlib.sha256(json.dumps(question, sort_keys=True, default=str).encode()).hexdigest()
    return f"analytics:answer:{name}:{scope}:{answers_version(outlet_id)}:{digest}"


def cached_answer(name: str, outlet_id: UUID | None, question: dict, compute: Callable[[], dict]) -> dict:
    """The rendered answer, from the cache when the same question was answered since the outlet's usage last changed.

    The version is read before computing: usage stored meanwhile moves it on, so an answer that
    may have missed that usage is cached under a key nobody asks for again.
    """
    if settings.ANALYTICS_CACHE_SECONDS <= 0:
        return compute()
    key = answer_cache_key(name, outlet_id, {**question, "today": dates.today_utc()})
    answer = cache.get(key)
    if answer is None:
        answer = compute()
        cache.set(key, answer, settings.ANALYTICS_CACHE_SECONDS)
    return answer
