"""Brute-force protection on the admin login (django-axes): a lockout per username and address, and its unlock."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from config.lockout import LOCKED_STATUS
from tests.factories import StaffFactory, create_api_key

LOGIN = "/admin/login/"
PASSWORD = "secret-password"  # the factories' password
ADDRESS = "203.0.113.7"


@pytest.fixture
def staff(db):
    return StaffFactory(username="ops")


def log_in(client, password: str, address: str = ADDRESS, username: str = "ops"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def fail_until_locked(client, settings) -> object:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200  # the login page, "enter a correct username"
    return log_in(client, "wrong")


def test_the_failure_limit_locks_the_login_with_a_clear_message_on_the_login_page(client, staff, settings):
    locked = fail_until_locked(client, settings)
    assert locked.status_code == LOCKED_STATUS
    page = locked.content.decode()
    assert "Too many failed logins" in page and "manage.py axes_reset_username ops" in page
    assert 'name="password"' in page  # the admin's own login page, not a bare error
    # The right password does not get through either while the lock holds.
    assert log_in(client, PASSWORD).status_code == LOCKED_STATUS


def test_the_lock_is_per_username_and_address(client, staff, settings):
    fail_until_locked(client, settings)
    assert log_in(client, PASSWORD, address="198.51.100.9").status_code == 302
    StaffFactory(username="other")
    assert log_in(client, PASSWORD, username="other").status_code == 302


def test_axes_reset_username_releases_the_lock(client, staff, settings):
    fail_until_locked(client, settings)
    call_command("axes_reset_username", "ops", stdout=StringIO())
    response = log_in(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_a_successful_login_clears_the_count(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 302
    client.logout()
    assert log_in(client, "wrong").status_code == 200


def test_api_keys_are_not_affected_by_the_lockout(client, staff, outlet, settings):
    fail_until_locked(client, settings)
    api = APIClient(REMOTE_ADDR=ADDRESS)
    api.credentials(HTTP_AUTHORIZATION="Bearer Wrong123.not-a-real-secret")
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        assert api.get("/api/v1/outlets/").status_code == 401  # bad keys: 401s, never a lockout
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {create_api_key(outlet=outlet)[1]}")
    assert api.get("/api/v1/outlets/").status_code == 200
    call_command("axes_reset_username", "ops", stdout=StringIO())
    assert log_in(client, PASSWORD).status_code == 302  # and the failed keys counted for no login


def test_behind_a_trusted_proxy_the_lock_is_per_client_address_not_per_proxy(client, staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"

    def via_proxy(password: str, forwarded_for: str):
        return client.post(
            LOGIN, {"username": "ops", "password": password, "next": "/admin/"},
            REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    for _ in range(settings.AXES_FAILURE_LIMIT):
        via_proxy("wrong", f"198.51.100.1, {ADDRESS}")  # a forged first entry does not change whose attempt it is
    assert via_proxy(PASSWORD, ADDRESS).status_code == LOCKED_STATUS
    assert via_proxy(PASSWORD, "198.51.100.9").status_code == 302  # another client behind the same proxy
