import pytest

from config.api import dates
from tests.analytics.handbuilt import TODAY, spend_data
from tests.analytics.rollup_usage import two_outlets_of_usage


@pytest.fixture
def staff(client, staff_user):
    """The Django test client, logged in as staff (the admin and the dashboard)."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def today(monkeypatch):
    """A fixed "today" for the series, snapshot and dashboard: records may then fall on it."""
    monkeypatch.setattr(dates, "today_in", lambda zone: TODAY)
    return TODAY


@pytest.fixture
def spend(db):
    return spend_data()


@pytest.fixture
def client_a(spend, key_client):
    return key_client("read", for_outlet=spend["outlet"])


@pytest.fixture
def usage(db):
    """Two outlets with usage records and interactions on each of a few days; nothing built yet."""
    return two_outlets_of_usage()
