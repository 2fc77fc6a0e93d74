"""The analytics migrations that fill a new rollup from the rows of another."""

from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection

from analytics.checks import check_rollups
from analytics.models import UsageHourlyTypeRollup
from tests.commands import run

sum_hourly_rows_by_type = import_module("analytics.migrations.0013_hourly_type_rollup").sum_hourly_rows_by_type


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor runs outside a transaction
def test_the_hourly_type_rollup_is_filled_from_the_hourly_rollup_with_the_raw_rows_sums(usage):
    run("rollup")
    built = UsageHourlyTypeRollup.objects.count()
    UsageHourlyTypeRollup.objects.all().delete()

    with connection.schema_editor() as editor:
        sum_hourly_rows_by_type(apps, editor)

    assert UsageHourlyTypeRollup.objects.count() == built > 0
    assert check_rollups().problems == []
