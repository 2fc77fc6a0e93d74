"""Alert webhooks against a real HTTP receiver on 127.0.0.1, which checks every signature as docs/webhooks.md says."""

import hashlib
import hmac
import json
import smtplib
import socket
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse

from credits import alerts, services, tasks, webhooks
from credits.models import CreditAlert, Outlet, WebhookDelivery
from credits.services import Actor

ACTOR = Actor.system("tests")
TOLERANCE_SECONDS = 300


def verify(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """The receiver's check, as docs/webhooks.md gives it: a fresh timestamp and a constant-time compare."""
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    candidates = [part.removeprefix("v1=") for part in signature.split(",") if part.startswith("v1=")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


class Receiver:
    """An HTTP server in a thread that answers each POST with the next status of `statuses` (the last one repeats)."""

    def __init__(self, statuses: list[int], secret: str = ""):
        self.statuses = list(statuses)
        self.secret = secret
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers)
                receiver.requests.append(
                    {
                        "body": body,
                        "headers": headers,
                        "verified": verify(
                            receiver.secret, body, headers["Ledgerline-Timestamp"], headers["Ledgerline-Signature"]
                        ),
                    }
                )
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                if not receiver.requests[-1]["verified"]:
                    status = 400
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"receiver says no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ledgerline"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def eager_tasks(eager_tasks, settings):
    """The shared eager tasks, with their retries at once."""
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0


def consume(agent, amount) -> None:
    services.credits_consume(
        debits={agent.pk: Decimal(amount)}, ingest_batch_id=uuid.uuid4(), actor=ACTOR, reason="usage"
    )


def hook_outlet(outlet, url) -> Outlet:
    Outlet.objects.filter(pk=outlet.pk).update(webhook_url=url)
    outlet.refresh_from_db()
    return outlet


def attempts() -> list[tuple]:
    return list(WebhookDelivery.objects.order_by("id").values_list("attempt", "status", "response_code"))


def test_a_failing_receiver_gets_the_event_again_until_it_accepts(
    agent, eager_tasks, django_capture_on_commit_callbacks
):
    with Receiver([500, 500, 200], secret=agent.outlet.webhook_secret) as receiver:
        hook_outlet(agent.outlet, receiver.url)
        services.credits_add(agent=agent, amount=Decimal("20"), actor=ACTOR, reason="top-up")
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "15")
            assert receiver.requests == []  # nothing leaves before the commit

    assert attempts() == [(1, "failed", 500), (2, "failed", 500), (3, "succeeded", 200)]
    assert all(request["verified"] for request in receiver.requests)
    bodies = {request["body"] for request in receiver.requests}
    assert len(bodies) == 1  # every attempt sends the same event
    event = json.loads(bodies.pop())
    alert = CreditAlert.objects.get()
    assert event["type"] == "credit_alert.opened"
    assert event["data"]["alert"] == {
        "id": alert.pk, "kind": "low", "status": "open", "threshold": "10.000000", "opening_balance": "5.000000",
        "opened_at": event["data"]["alert"]["opened_at"], "depleted_at": None, "resolved_at": None,
        "resolution_balance": None,
    }
    assert event["data"]["balance"] == "5.000000"
    assert event["data"]["agent"] == {"id": str(agent.pk), "name": agent.name, "external_id": agent.external_id}
    assert event["data"]["outlet"] == {"id": str(agent.outlet_id), "name": agent.outlet.name}
    headers = receiver.requests[0]["headers"]
    assert headers["Content-Type"] == "application/json"
    assert (headers["Ledgerline-Event"], headers["Ledgerline-Event-Id"]) == (event["type"], event["id"])
    deliveries = list(WebhookDelivery.objects.order_by("id"))
    assert {delivery.event_id for delivery in deliveries} == {event["id"]}
    assert all(delivery.alert_id == alert.pk and delivery.url == receiver.url for delivery in deliveries)
    assert deliveries[0].error == "HTTP 500: receiver says no" and deliveries[2].error == ""
    assert all(delivery.duration_ms >= 0 and delivery.created_at for delivery in deliveries)


def test_open_depleted_and_resolved_each_post_an_event(agent, eager_tasks, django_capture_on_commit_callbacks):
    with Receiver([200], secret=agent.outlet.webhook_secret) as receiver:
        hook_outlet(agent.outlet, receiver.url)
        for change in (
            lambda: services.credits_add(agent=agent, amount=Decimal("5"), actor=ACTOR, reason="top-up"),
            lambda: consume(agent, "6"),
            lambda: consume(agent, "1"),
            lambda: services.credits_set(agent=agent, amount=Decimal("30"), actor=ACTOR, reason="top-up"),
        ):
            with django_capture_on_commit_callbacks(execute=True):
                change()
    events = [json.loads(request["body"]) for request in receiver.requests]
    assert [event["type"] for event in events] == [
        "credit_alert.opened", "credit_alert.depleted", "credit_alert.resolved"
    ]
    assert [event["data"]["balance"] for event in events] == ["5.000000", "-1.000000", "30.000000"]
    resolved = events[2]["data"]["alert"]
    assert (resolved["status"], resolved["kind"], resolved["resolution_balance"]) == ("resolved", "depleted", "30.000000")
    assert len({event["id"] for event in events}) == 3


def test_delivery_gives_up_after_the_last_attempt_without_failing_the_change(
    agent, eager_tasks, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    with Receiver([503], secret=agent.outlet.webhook_secret) as receiver:
        hook_outlet(agent.outlet, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "1")
    assert attempts() == [(n, "failed", 503) for n in (1, 2, 3, 4)]
    assert len(receiver.requests) == 4


def test_network_errors_and_redirects_are_failed_attempts(agent, eager_tasks, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hook_outlet(agent.outlet, f"http://127.0.0.1:{closed_port}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        consume(agent, "1")
    [refused] = WebhookDelivery.objects.all()
    assert (refused.status, refused.response_code) == ("failed", None)
    assert "refused" in refused.error.lower()

    with Receiver([302], secret=agent.outlet.webhook_secret) as receiver:
        hook_outlet(agent.outlet, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            services.credits_add(agent=agent, amount=Decimal("50"), actor=ACTOR, reason="top-up")
    redirected = WebhookDelivery.objects.latest("id")
    assert (redirected.status, redirected.response_code, redirected.event) == ("failed", 302, "credit_alert.resolved")
    assert len(receiver.requests) == 1  # the redirect was not followed


def test_a_rotated_secret_signs_the_next_attempt(agent, eager_tasks, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    old_secret = agent.outlet.webhook_secret
    webhooks.webhook_secret_rotate(outlets=[agent.outlet])
    with Receiver([200], secret=old_secret) as receiver:  # a receiver still holding the old secret refuses
        hook_outlet(agent.outlet, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "1")
    assert attempts() == [(1, "failed", 400), (2, "failed", 400)]
    assert receiver.requests[0]["verified"] is False


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = webhooks.encode({"type": "credit_alert.opened", "b": 1, "a": "é"})
    assert body == '{"a":"\\u00e9","b":1,"type":"credit_alert.opened"}'.encode()
    signature = webhooks.sign(secret="whsec_test", timestamp=1700000000, body=body)
    expected = hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature == f"v1={expected}"
    assert verify("whsec_test", body, str(int(time.time())), webhooks.sign(
        secret="whsec_test", timestamp=int(time.time()), body=body))
    assert not verify("whsec_test", body, "1700000000", signature)  # outside the tolerance window: a replay


def test_retries_back_off_exponentially_from_the_setting(agent, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    assert [webhooks.retry_countdown(n) for n in (1, 2, 3, 7)] == [60, 120, 240, 3840]
    failed = WebhookDelivery(status=WebhookDelivery.Status.FAILED)
    event = {"id": "evt_1", "type": "credit_alert.opened", "data": {"alert": {"id": 0}}}
    with (
        mock.patch.object(webhooks, "webhook_deliver", return_value=failed),
        mock.patch.object(tasks.deliver_alert_webhook, "retry", side_effect=RuntimeError("retry")) as retry,
    ):
        with pytest.raises(RuntimeError):
            tasks.deliver_alert_webhook.run(event)
    retry.assert_called_once_with(exc=None, countdown=60, max_retries=7, throw=False)


def test_an_outlet_without_a_webhook_url_posts_nothing(agent, eager_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        consume(agent, "1")
    assert callbacks == [] and not WebhookDelivery.objects.exists()
    # A URL removed after the event was enqueued: the task finds none and records nothing.
    event = {"id": "evt_1", "type": "credit_alert.opened", "data": {"alert": {"id": CreditAlert.objects.get().pk}}}
    assert webhooks.webhook_deliver(event=event, attempt=1) is None


def test_a_failing_mail_server_is_retried(agent, eager_tasks, django_capture_on_commit_callbacks):
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="billing@example.com")
    real_send = alerts.send_mail
    calls = []

    def flaky_send(**kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
        return real_send(**kwargs)

    with mock.patch.object(alerts, "send_mail", side_effect=flaky_send):
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "1")
    assert len(calls) == 3
    assert [message.subject.split(":")[0] for message in mail.outbox] == ["Credits depleted"]


def test_delivery_attempts_are_listed_in_the_admin(client, staff_user, agent, eager_tasks, settings,
                                                   django_capture_on_commit_callbacks, django_assert_max_num_queries):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    with Receiver([500], secret=agent.outlet.webhook_secret) as receiver:
        hook_outlet(agent.outlet, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            consume(agent, "1")
    client.force_login(staff_user)
    with django_assert_max_num_queries(9):  # session, user, filters, counts, dates, page: none per row
        response = client.get(reverse("admin:credits_webhookdelivery_changelist"), {"status__exact": "failed"})
    assert response.status_code == 200 and response.context["cl"].result_count == 2
    alert_page = client.get(reverse("admin:credits_creditalert_change", args=[CreditAlert.objects.get().pk]))
    assert alert_page.content.decode().count("receiver says no") == 2
