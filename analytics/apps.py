from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from analytics import tasks  # noqa: F401 - registers the Celery tasks that are enqueued by name
        from analytics.checks import check_rollups
        from analytics.requestlog import purge  # noqa: F401 - registers the request log's purge task, as above
        from analytics.services import mark_hours_dirty
        from config import checks
        from usage.signals import hours_changed

        checks.register("rollups", check_rollups)
        hours_changed.connect(mark_hours_dirty, dispatch_uid="analytics.mark_hours_dirty")
