"""Signed webhook POSTs of events (alerts', auto top-ups' requests), each attempt recorded (docs/webhooks.md).

The body is the event as JSON; the signature is HMAC-SHA256 with the outlet's secret over
`"<timestamp>.<body>"`, sent as `Ledgerline-Signature: v1=<hex>` next to
`Ledgerline-Timestamp: <unix seconds>`. Any answer but a 2xx, and any network error, is a
failure that `credits.tasks.deliver_alert_webhook` retries with exponential backoff. An event
is about one subject, named under `data`: an `alert` or a `top_up`; its attempts are recorded
against it.
"""

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.request
from collections.abc import Iterable
from urllib.error import HTTPError

from django.conf import settings

from credits.holds.models import CreditTopUp
from credits.models import CreditAlert, Outlet, WebhookDelivery, new_webhook_secret

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Ledgerline-Signature"
TIMESTAMP_HEADER = "Ledgerline-Timestamp"
EVENT_HEADER = "Ledgerline-Event"
EVENT_ID_HEADER = "Ledgerline-Event-Id"
SIGNATURE_VERSION = "v1"
USER_AGENT = "Ledgerline-Webhooks/1"
# How much of a failed answer's body is kept with the attempt.
ERROR_BODY_CHARS = 500


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new address to POST the event to: it fails the attempt."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def encode(event: dict) -> bytes:
    """The exact bytes sent and signed; every attempt of one event sends the same body."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def retry_countdown(attempt: int) -> int:
    """Seconds to wait after failed attempt `attempt` (1-based): the base, doubled after each failure."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)


# The field under an event's `data` that names its subject, and the subject's model (a WebhookDelivery field).
SUBJECT_MODELS = {"alert": CreditAlert, "top_up": CreditTopUp}


def _subject(event: dict) -> tuple[str, CreditAlert | CreditTopUp | None]:
    field = next(field for field in SUBJECT_MODELS if field in event["data"])
    model = SUBJECT_MODELS[field]
    return field, model.objects.select_related("outlet").filter(pk=event["data"][field]["id"]).first()


def webhook_deliver(*, event: dict, attempt: int) -> WebhookDelivery | None:
    """POSTs `event` to its outlet's webhook URL as it is now and records the attempt; None if there is none."""
    field, subject = _subject(event)
    if subject is None or not subject.outlet.webhook_url:
        return None
    url, secret = subject.outlet.webhook_url, subject.outlet.webhook_secret
    body = encode(event)
    timestamp = int(time.time())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret=secret, timestamp=timestamp, body=body),
            EVENT_HEADER: event["type"],
            EVENT_ID_HEADER: event["id"],
        },
    )
    code, error = None, ""
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            code = response.status
    except HTTPError as exc:
        code = exc.code
        error = _error_body(exc)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError (refused, DNS), timeouts, connections cut mid-answer, an address urllib cannot use.
        error = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
    duration_ms = round((time.monotonic() - started) * 1000)
    succeeded = code is not None and 200 <= code < 300
    if not succeeded and not error:
        error = f"HTTP {code}"
    delivery = WebhookDelivery.objects.create(
        **{field: subject},
        event_id=event["id"],
        event=event["type"],
        attempt=attempt,
        url=url,
        status=WebhookDelivery.Status.SUCCEEDED if succeeded else WebhookDelivery.Status.FAILED,
        response_code=code,
        error=error,
        duration_ms=duration_ms,
    )
    if not succeeded:
        logger.warning("webhook %s attempt %s to %s failed: %s", event["id"], attempt, url, error)
    return delivery


def _error_body(exc: HTTPError) -> str:
    try:
        text = exc.read(ERROR_BODY_CHARS).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException):
        text = ""
    finally:
        exc.close()
    return f"HTTP {exc.code}" + (f": {text}" if text else "")


def webhook_secret_rotate(*, outlets: Iterable[Outlet]) -> int:
    """Gives each outlet a new signing secret, effective for the next attempt; the old one stops working at once."""
    count = 0
    for outlet in outlets:
        outlet.webhook_secret = new_webhook_secret()
        outlet.save(update_fields=["webhook_secret"])
        count += 1
    return count
