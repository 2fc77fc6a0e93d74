"""Outages for tests: a closed port, a Redis server of the test's own to stop and start, the cache and broker moved there.

Never the shared Redis (6379) or PostgreSQL: a test that needs an outage makes its own.
"""

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings

from config.celery import app

REDIS_SERVER = shutil.which("redis-server")
TIMEOUT = 30  # seconds for a server to start or stop


def free_port() -> int:
    """A port nothing listens on (the OS's pick, released at once): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_cache_settings(url: str) -> dict:
    """CACHES as config/settings.py builds them for REDIS_URL=url."""
    return {
        "default": {
            "BACKEND": "config.cache.DegradingRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "ledgerline",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@contextlib.contextmanager
def broker_at(url: str):
    """The Celery app publishes to `url` (not eagerly) meanwhile; it looks its pools up again before and after.

    kombu keeps one pool per broker in a registry of its own: the usual broker's stays open for afterwards.
    """
    saved = {name: app.conf[name] for name in ("broker_url", "task_always_eager")}

    def drop_pools():
        app._pool = None
        app.amqp._producer_pool = None

    drop_pools()
    app.conf.update(broker_url=url, task_always_eager=False)
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=url):
            yield
    finally:
        drop_pools()
        app.conf.update(saved)


@contextlib.contextmanager
def redis_down():
    """Cache and broker at a closed port: Redis is down for everything this process does meanwhile."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(CACHES=redis_cache_settings(url), REDIS_URL=url), broker_at(url):
        yield url


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence: stop() loses what it held."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + TIMEOUT
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, as `systemctl stop redis` or a restart: the server closes its clients' connections and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=TIMEOUT)
        self.process = None


def end_backend(pid: int) -> None:
    """Ends PostgreSQL's backend `pid` as a restart would (the server closes its socket), and waits until it is gone."""
    killer = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if not cursor.fetchone()[0]:
                    return
                time.sleep(0.05)
    finally:
        killer.close()
