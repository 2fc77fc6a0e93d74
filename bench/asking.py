"""How the analytics benchmarks ask Ledgerline: as an outlet's API key or a staff session, over keep-alive HTTP."""

import http.client
import threading
import time
from datetime import timedelta


def get(connection: http.client.HTTPConnection, headers: dict, path: str) -> bytes:
    """The body of a GET on a kept-alive connection; anything but a 200 raises."""
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return body


def http_times(port: int, headers: dict, path: str, repeat: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    samples = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        get(connection, headers, path)
        if attempt:  # the first is a warm-up
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def warm_up(port: int, headers: dict, path: str, workers: int = 2) -> None:
    """Concurrent requests, so every gunicorn worker has served one (its first pays for lazy imports and a connection)."""
    threads = [
        threading.Thread(target=http_times, args=(port, headers, path, 1)) for _ in range(workers * 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def staff_session_cookie() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.filter(username="bench-staff").first() or get_user_model().objects.create_superuser(
        "bench-staff", "bench@example.com", "bench-password"
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


def asking_outlet(zone: str):
    """The outlet whose key asks the one-outlet questions: the first by name in `zone`, else the first."""
    from credits.models import Outlet

    outlets = Outlet.objects.order_by("name")
    return outlets.filter(timezone=zone).first() or outlets.first()

def asking_headers(outlet) -> tuple[dict, dict]:
    """The headers of a new read key of `outlet`, and of a staff session."""
    from django.utils import timezone

    from credits.services import api_key_create

    _, key = api_key_create(outlet=outlet, name=f"bench {timezone.now():%H%M%S}", scopes=["read"])
    return {"Authorization": f"Bearer {key}"}, {"Cookie": staff_session_cookie()}


def question_dates() -> dict:
    """The ranges the questions name: the last 30 and 90 days to today (UTC's date, as a client would send it)."""
    from django.utils import timezone

    today = timezone.now().date()
    return {"end": today, "start30": today - timedelta(days=29), "start90": today - timedelta(days=89)}
