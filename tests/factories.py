from datetime import UTC, datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from credits.models import Agent, ApiKey, Outlet
from credits.prices.models import Price


class OutletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Outlet

    name = factory.Sequence(lambda n: f"Outlet {n}")
    timezone = "UTC"
    currency = "USD"
    billing_cycle_day = 1
    low_balance_threshold = Decimal("10")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    outlet = factory.SubFactory(OutletFactory)
    name = factory.Sequence(lambda n: f"Agent {n}")
    external_id = factory.Sequence(lambda n: f"agent-{n}")


class PriceFactory(factory.django.DjangoModelFactory):
    """A platform default (no outlet) in effect since 2000 unless told."""

    class Meta:
        model = Price

    type = "CONVERSATION"
    unit = "tokens"
    credits_per_unit = Decimal("0.001")
    cost_usd_per_unit = Decimal("0.00001")
    effective_from = datetime(2000, 1, 1, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "secret-password")
    is_staff = False

    @factory.post_generation
    def persist(self, create, extracted, **kwargs):
        if create:
            self.save()


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


def create_api_key(*, outlet: Outlet, scopes=("read",), **fields) -> tuple[ApiKey, str]:
    """A saved key and its raw secret, the way `create_api_key` mints one."""
    return ApiKey.objects.create_key(outlet=outlet, name=fields.pop("name", "test key"), scopes=list(scopes), **fields)
