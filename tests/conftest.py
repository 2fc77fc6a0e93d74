import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from config.db import ALLOW_TRUNCATE_SETTING
from tests.factories import AgentFactory, OutletFactory, StaffFactory, create_api_key

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    needs_postgres = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI's second pass)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(needs_postgres)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Transactional tests empty tables with TRUNCATE, which append-only tables refuse unless told."""
    if ON_POSTGRES:
        from django.db import connection

        with django_db_blocker.unblock(), connection.cursor() as cursor:
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"ALTER DATABASE {name} SET {ALLOW_TRUNCATE_SETTING} = 'on'")
            cursor.execute(f"SET {ALLOW_TRUNCATE_SETTING} = 'on'")


@pytest.fixture(autouse=True)
def empty_cache():
    """The local-memory cache outlives a test: cached analytics answers must not leak into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def outlet(db):
    return OutletFactory()


@pytest.fixture
def agent(outlet):
    return AgentFactory(outlet=outlet)


@pytest.fixture
def staff_user(db):
    return StaffFactory()


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def key_client(outlet):
    """A client for `outlet` whose key has the given scopes: `key_client("read", "ingest")`."""

    def make(*scopes: str, for_outlet=None) -> APIClient:
        _, raw_key = create_api_key(outlet=for_outlet or outlet, scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client

    return make
