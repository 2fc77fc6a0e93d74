import uuid
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.celery import app as celery_app
from credits import alerts, services
from credits.models import CreditAccount, CreditAlert, Outlet
from credits.services import Actor
from credits.tasks import check_low_balances
from tests.concurrency import run_in_threads
from tests.factories import AgentFactory, OutletFactory

ACTOR = Actor.system("tests")
Kind = CreditAlert.Kind
Status = CreditAlert.Status


def fund(agent, amount) -> None:
    services.credits_add(agent=agent, amount=Decimal(amount), actor=ACTOR, reason="top-up")


def consume(debits: dict) -> None:
    services.credits_consume(
        debits={agent.pk: Decimal(amount) for agent, amount in debits.items()},
        ingest_batch_id=uuid.uuid4(),
        actor=ACTOR,
        reason="usage",
    )


def alerts_of(agent) -> list[CreditAlert]:
    return list(CreditAlert.objects.filter(account_id=agent.pk).order_by("id"))


def balance(agent) -> Decimal:
    return CreditAccount.objects.get(pk=agent.pk).balance


def open_alert(agent) -> CreditAlert | None:
    return CreditAlert.objects.filter(account_id=agent.pk, status=Status.OPEN).first()


# The rule.

@pytest.mark.parametrize(
    ("balance", "threshold", "kind"),
    [
        ("20", "10", None),
        ("10", "10", None),  # at the threshold is not below it
        ("9.999999", "10", Kind.LOW),
        ("0.000001", "10", Kind.LOW),
        ("0", "10", Kind.DEPLETED),
        ("-3", "10", Kind.DEPLETED),
        ("0", "0", Kind.DEPLETED),  # a threshold of zero still warns when the credits run out
        ("0.000001", "0", None),
    ],
)
def test_alert_kind(balance, threshold, kind):
    assert alerts.alert_kind(balance=Decimal(balance), threshold=Decimal(threshold)) == kind


# The lifecycle, through the ledger services.

def test_consumption_below_the_threshold_opens_one_low_alert(agent):
    fund(agent, "20")
    assert alerts_of(agent) == []
    consume({agent: "15"})
    [alert] = alerts_of(agent)
    assert (alert.kind, alert.status, alert.threshold, alert.opening_balance) == (Kind.LOW, Status.OPEN, 10, 5)
    assert alert.outlet_id == agent.outlet_id
    assert alert.opened_at is not None and alert.depleted_at is None and alert.resolved_at is None


def test_more_consumption_keeps_the_one_alert(agent):
    fund(agent, "20")
    for _ in range(3):
        consume({agent: "4"})
    [alert] = alerts_of(agent)
    assert (alert.kind, alert.status, alert.opening_balance) == (Kind.LOW, Status.OPEN, Decimal("8"))


def test_reaching_zero_escalates_the_open_alert_to_depleted_in_place(agent):
    fund(agent, "20")
    consume({agent: "15"})
    low = open_alert(agent)
    consume({agent: "7"})
    [alert] = alerts_of(agent)
    assert alert.pk == low.pk
    assert (alert.kind, alert.status, alert.opening_balance) == (Kind.DEPLETED, Status.OPEN, Decimal("5"))
    assert alert.depleted_at >= alert.opened_at


def test_falling_straight_to_zero_opens_a_depleted_alert(agent):
    fund(agent, "20")
    consume({agent: "20"})
    [alert] = alerts_of(agent)
    assert (alert.kind, alert.opening_balance, alert.depleted_at) == (Kind.DEPLETED, 0, alert.opened_at)


def test_a_depleted_alert_stays_depleted_until_the_balance_is_back_at_the_threshold(agent):
    fund(agent, "5")
    consume({agent: "6"})
    fund(agent, "4")  # 3: positive again, still below 10
    [alert] = alerts_of(agent)
    assert (alert.kind, alert.status) == (Kind.DEPLETED, Status.OPEN)


def test_adding_credits_up_to_the_threshold_resolves_the_alert(agent):
    fund(agent, "5")
    fund(agent, "4.999999")
    assert open_alert(agent).opening_balance == 5
    fund(agent, "0.000001")  # exactly 10
    [alert] = alerts_of(agent)
    assert (alert.status, alert.resolution_balance) == (Status.RESOLVED, Decimal("10"))
    assert alert.resolved_at >= alert.opened_at
    assert open_alert(agent) is None


def test_falling_again_after_a_resolution_opens_a_new_alert(agent):
    fund(agent, "5")
    fund(agent, "20")
    consume({agent: "20"})
    first, second = alerts_of(agent)
    assert (first.status, second.status, second.kind) == (Status.RESOLVED, Status.OPEN, Kind.LOW)


def test_set_and_clear_open_and_resolve_alerts(agent):
    services.credits_set(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="set")
    assert open_alert(agent).kind == Kind.LOW
    services.credits_set(agent=agent, amount=Decimal("100"), actor=ACTOR, reason="set")
    assert open_alert(agent) is None
    services.credits_clear(agent=agent, actor=ACTOR, reason="clear")
    alert = open_alert(agent)
    assert (alert.kind, alert.opening_balance) == (Kind.DEPLETED, 0)
    services.credits_adjust(agent=agent, amount=Decimal("10"), actor=ACTOR, reason="correction")
    assert [a.status for a in alerts_of(agent)] == [Status.RESOLVED, Status.RESOLVED]


def test_the_agents_threshold_beats_the_outlets(outlet):
    careful = AgentFactory(outlet=outlet, low_balance_threshold=Decimal("50"))
    relaxed = AgentFactory(outlet=outlet, low_balance_threshold=Decimal("2"))
    for agent in (careful, relaxed):
        fund(agent, "20")  # below 50, above the outlet's 10 and the agent's 2
    consume({relaxed: "15"})
    assert open_alert(careful).threshold == 50
    assert open_alert(relaxed) is None
    consume({relaxed: "4"})
    assert open_alert(relaxed).threshold == 2


def test_an_idempotent_replay_changes_no_alert(agent):
    services.credits_set(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="set", idempotency_key="k")
    services.credits_set(agent=agent, amount=Decimal("3"), actor=ACTOR, reason="set", idempotency_key="k")
    assert len(alerts_of(agent)) == 1


def test_a_rolled_back_change_opens_no_alert(agent, django_capture_on_commit_callbacks):
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="billing@example.com")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        consume({agent: "5"})
        assert open_alert(agent) is not None
        raise RuntimeError("the ingest failed after the debit")
    assert alerts_of(agent) == []
    assert callbacks == []


def test_consume_evaluates_many_accounts_at_once(outlet):
    healthy, going_low, running_dry, already_low, no_entry = (AgentFactory(outlet=outlet) for _ in range(5))
    fund(healthy, "100")
    fund(going_low, "12")
    fund(running_dry, "12")
    fund(already_low, "5")
    low = open_alert(already_low)

    consume({healthy: "1", going_low: "4", running_dry: "13", already_low: "5"})

    assert open_alert(healthy) is None
    assert (open_alert(going_low).kind, open_alert(going_low).opening_balance) == (Kind.LOW, 8)
    assert (open_alert(running_dry).kind, open_alert(running_dry).opening_balance) == (Kind.DEPLETED, -1)
    assert (open_alert(already_low).pk, open_alert(already_low).kind) == (low.pk, Kind.DEPLETED)
    assert alerts_of(no_entry) == []
    assert CreditAlert.objects.count() == 3


def test_consume_checks_alerts_in_a_fixed_number_of_queries(outlet):
    def queries_to_consume(count: int) -> int:
        agents = [AgentFactory(outlet=outlet) for _ in range(count)]
        for agent in agents[::2]:
            fund(agent, "11")  # half go low, half go below zero
        with CaptureQueriesContext(connection) as captured:
            consume({agent: "2" for agent in agents})
        assert CreditAlert.objects.filter(account_id__in=[agent.pk for agent in agents]).count() == count
        return len(captured)

    assert queries_to_consume(2) == queries_to_consume(12)


def test_the_database_refuses_a_second_open_alert_for_an_account(agent):
    consume({agent: "1"})
    alert = open_alert(agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAlert.objects.create(
            outlet=agent.outlet, account=alert.account, kind=Kind.LOW, threshold=10, opening_balance=5,
            opened_at=timezone.now(),
        )
    alert.status, alert.resolved_at, alert.resolution_balance = Status.RESOLVED, timezone.now(), Decimal("20")
    alert.save()
    CreditAlert.objects.create(
        outlet=agent.outlet, account=alert.account, kind=Kind.LOW, threshold=10, opening_balance=5, opened_at=timezone.now()
    )


# Notifications.

def test_notifications_are_sent_only_after_commit(agent, eager_tasks, django_capture_on_commit_callbacks):
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="billing@example.com, cfo@example.com")
    fund(agent, "20")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        consume({agent: "15"})
        assert mail.outbox == []  # not before the commit
    assert len(callbacks) == 1
    [message] = mail.outbox
    assert message.to == ["billing@example.com", "cfo@example.com"]
    assert message.subject == f"Low balance: {agent.name} ({agent.outlet.name})"
    assert "5.000000" in message.body and "10.000000" in message.body


def test_depleted_and_resolved_are_emailed_too(agent, eager_tasks, django_capture_on_commit_callbacks):
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="billing@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        fund(agent, "5")
    with django_capture_on_commit_callbacks(execute=True):
        consume({agent: "5"})
    with django_capture_on_commit_callbacks(execute=True):
        consume({agent: "1"})  # still depleted: nothing new to say
    with django_capture_on_commit_callbacks(execute=True):
        fund(agent, "50")
    assert [message.subject.split(":")[0] for message in mail.outbox] == [
        "Low balance", "Credits depleted", "Balance restored"
    ]


def test_an_outlet_without_contacts_or_webhook_enqueues_nothing(agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        consume({agent: "5"})
    assert open_alert(agent) is not None
    assert callbacks == []


def test_the_email_goes_to_the_contacts_as_they_are_when_it_is_sent(agent, eager_tasks, django_capture_on_commit_callbacks):
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="old@example.com")
    with django_capture_on_commit_callbacks() as callbacks:
        consume({agent: "5"})
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="new@example.com")
    for callback in callbacks:
        callback()
    assert [message.to for message in mail.outbox] == [["new@example.com"]]


# The safety net.

def test_check_low_balances_opens_escalates_and_resolves_what_changes_missed(outlet):
    went_low, back_up, ran_dry, new_agent = (AgentFactory(outlet=outlet) for _ in range(4))
    went_low.low_balance_threshold = Decimal("4")
    went_low.save()
    for agent in (went_low, back_up, ran_dry):
        fund(agent, "5")
    services.credits_clear(agent=ran_dry, actor=ACTOR, reason="clear")
    # What no balance change announces: thresholds edited in the admin, and an escalation lost.
    went_low.low_balance_threshold = Decimal("8")
    went_low.save()
    back_up.low_balance_threshold = Decimal("1")
    back_up.save()
    CreditAlert.objects.filter(account_id=ran_dry.pk).update(kind=Kind.LOW, depleted_at=None)

    assert check_low_balances() == {"opened": 1, "depleted": 1, "resolved": 1}

    assert (open_alert(went_low).kind, open_alert(went_low).threshold) == (Kind.LOW, 8)
    assert open_alert(back_up) is None and alerts_of(back_up)[0].resolution_balance == 5
    assert open_alert(ran_dry).kind == Kind.DEPLETED
    assert alerts_of(new_agent) == []  # never funded, never charged: no alert
    assert check_low_balances() == {"opened": 0, "depleted": 0, "resolved": 0}
    assert CreditAlert.objects.filter(status=Status.OPEN).count() == 2


def test_check_low_balances_is_on_the_beat_schedule():
    entry = celery_app.conf.beat_schedule["check-low-balances"]
    assert entry["task"] == check_low_balances.name == "credits.tasks.check_low_balances"
    assert entry["options"]["expires"] < entry["schedule"] <= 300  # a run that missed its slot is dropped


def test_check_low_balances_notifies_like_a_balance_change(agent, eager_tasks, django_capture_on_commit_callbacks):
    Outlet.objects.filter(pk=agent.outlet_id).update(billing_contacts="billing@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        fund(agent, "20")
    Outlet.objects.filter(pk=agent.outlet_id).update(low_balance_threshold=Decimal("50"))
    with django_capture_on_commit_callbacks(execute=True):
        check_low_balances.delay()
    assert [message.subject.split(":")[0] for message in mail.outbox] == ["Low balance"]


# Outlet settings.

def test_billing_contacts_are_validated_and_normalised(outlet):
    outlet.billing_contacts = "a@example.com;\nb@example.com  a@example.com"
    outlet.full_clean()
    assert outlet.billing_contacts == "a@example.com, b@example.com"
    assert outlet.billing_contact_list == ["a@example.com", "b@example.com"]
    outlet.billing_contacts = "a@example.com, not-an-address"
    with pytest.raises(ValidationError) as raised:
        outlet.full_clean()
    assert "not-an-address" in str(raised.value.message_dict["billing_contacts"])


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "javascript:alert(1)"])
def test_webhook_url_must_be_http_or_https(outlet, url):
    outlet.webhook_url = url
    with pytest.raises(ValidationError) as raised:
        outlet.full_clean()
    assert "webhook_url" in raised.value.message_dict


def test_each_outlet_gets_its_own_webhook_secret(db):
    first, second = OutletFactory(), OutletFactory()
    assert first.webhook_secret.startswith("whsec_") and len(first.webhook_secret) > 40
    assert first.webhook_secret != second.webhook_secret


# Admin.

@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def test_alert_list_filters_and_is_read_only(staff, outlet, django_assert_max_num_queries):
    for _ in range(5):
        consume({AgentFactory(outlet=outlet): "1"})
    url = reverse("admin:credits_creditalert_changelist")
    with django_assert_max_num_queries(9):  # 8, and the chosen outlet's zone: the list's dates are its local dates
        response = staff.get(url, {"status__exact": "open", "kind__exact": "depleted", "outlet__id__exact": outlet.pk})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 5
    assert staff.get(url, {"kind__exact": "low"}).context["cl"].result_count == 0
    assert staff.get(reverse("admin:credits_creditalert_add")).status_code == 403
    alert = CreditAlert.objects.first()
    page = staff.get(reverse("admin:credits_creditalert_change", args=[alert.pk]))
    assert page.status_code == 200 and b"Webhook delivery attempts" in page.content


def test_outlet_page_shows_contacts_webhook_and_secret_and_rotates_it(staff, outlet):
    page = staff.get(reverse("admin:credits_outlet_change", args=[outlet.pk]))
    content = page.content.decode()
    assert 'name="billing_contacts"' in content and 'name="webhook_url"' in content
    assert outlet.webhook_secret in content and 'name="webhook_secret"' not in content
    old = outlet.webhook_secret
    response = staff.post(
        reverse("admin:credits_outlet_changelist"), {"action": "rotate_webhook_secrets", "_selected_action": [outlet.pk]}
    )
    assert response.status_code == 302
    outlet.refresh_from_db()
    assert outlet.webhook_secret != old and outlet.webhook_secret.startswith("whsec_")


# PostgreSQL: concurrent writers.

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_consumers_and_the_safety_net_leave_exactly_one_open_alert(eager_tasks):
    agent = AgentFactory(outlet=OutletFactory(billing_contacts="billing@example.com"))
    fund(agent, "50")

    def work(index):
        for _ in range(10):
            if index == 0:
                alerts.alerts_check()
            else:
                consume({agent: "1"})

    assert run_in_threads(8, work) == []
    [alert] = alerts_of(agent)  # the balance only fell: one episode, one alert
    assert (alert.status, alert.kind, alert.opening_balance) == (Status.OPEN, Kind.DEPLETED, Decimal("9"))
    assert balance(agent) == Decimal("-20")
    assert [message.subject.split(":")[0] for message in mail.outbox] == ["Low balance", "Credits depleted"]
