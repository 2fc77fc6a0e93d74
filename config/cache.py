"""The Redis cache, degraded to a miss while Redis is unreachable: PostgreSQL-only work goes on without it.

What the cache holds can always be recomputed (analytics answers, their version tokens, the
rollup schedule's debounce) or forgone (the API throttle's counts: no throttle while Redis is
down, since a per-process count would be off by the number of server processes). So a Redis
error is a miss for a read and a no-op for a write, and a warning at most once a minute.
"""

import logging
import threading
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


class OncePerInterval:
    """Lets a warning through at most once per `seconds`, per process: an outage is one line a minute, not one a request."""

    def __init__(self, seconds: float = 60):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._next = 0.0

    def warn(self, log: logging.Logger, message: str, *args) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.seconds
        log.warning(message, *args)


class DegradingRedisCache(RedisCache):
    """Django's RedisCache, where an unreachable (or refusing) Redis is a miss or a no-op instead of an error."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self.unavailable = OncePerInterval(60)

    def _or(self, fallback, operation, *args):
        try:
            return operation(*args)
        except redis.RedisError as exc:
            self.unavailable.warn(
                logger,
                "Redis cache unavailable (%s: %s): every read is a miss, the API throttle is not enforced "
                "and rollups wait for the beat until it answers again.",
                type(exc).__name__, exc,
            )
            return fallback

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._or(False, super().add, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._or(default, super().get, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._or(None, super().set, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._or(False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._or(False, super().delete, key, version)

    def get_many(self, keys, version=None):
        return self._or({}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._or(False, super().has_key, key, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._or(list(data), super().set_many, data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._or(None, super().delete_many, keys, version)
