"""The scope of an answer: its outlets' zones and the days its rollups cannot answer, read once per answer."""

from datetime import UTC, date, datetime, timedelta

from analytics.models import DirtyBucket
from analytics.scope import answer_zone, one_staleness, scope_of
from config.api.dates import DateRange
from tests.factories import OutletFactory

FIRST_DAY = date(2026, 10, 3)


def test_a_scope_read_serves_the_ranges_inside_it_with_only_their_dirty_days(db, django_assert_num_queries):
    outlet = OutletFactory(timezone="Asia/Kolkata")
    marked_day = FIRST_DAY + timedelta(days=2)
    local_noon = datetime.combine(marked_day, datetime.min.time(), tzinfo=outlet.zone).replace(hour=12)
    hour = local_noon.astimezone(UTC).replace(minute=0)  # marks are whole UTC hours
    DirtyBucket.objects.create(outlet=outlet, hour=hour, marked_at=datetime.now(UTC))
    wide = DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=29))
    inside = DateRange(FIRST_DAY + timedelta(days=5), FIRST_DAY + timedelta(days=9))
    with django_assert_num_queries(1), one_staleness():
        assert answer_zone(outlet.pk, wide) == outlet.zone
        assert scope_of(outlet.pk, wide).stale == [(outlet.pk, outlet.timezone, marked_day, marked_day + timedelta(days=1))]
        assert scope_of(outlet.pk, inside).stale == []
    with django_assert_num_queries(2), one_staleness():  # a range the first read does not cover is read again
        assert scope_of(outlet.pk, inside).stale == []
        assert len(scope_of(outlet.pk, wide).stale) == 1


def test_a_mark_outside_the_range_leaves_every_day_clean(db):
    outlet = OutletFactory(timezone="UTC")
    DirtyBucket.objects.create(outlet=outlet, hour=datetime(2026, 9, 1, 5, tzinfo=UTC), marked_at=datetime.now(UTC))
    assert scope_of(outlet.pk, DateRange(FIRST_DAY, FIRST_DAY + timedelta(days=6))).stale == []
