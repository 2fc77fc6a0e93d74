from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save

        from analytics import tasks  # noqa: F401 - registers the Celery tasks that are enqueued by name
        from analytics.checks import check_rollups
        from analytics.requestlog import purge  # noqa: F401 - registers the request log's purge task, as above
        from analytics.services import mark_hours_dirty, outlet_saved
        from analytics.zones import register_sqlite_functions
        from config import checks
        from credits.models import Outlet
        from usage.signals import hours_changed

        checks.register("rollups", check_rollups)
        hours_changed.connect(mark_hours_dirty, dispatch_uid="analytics.mark_hours_dirty")
        post_save.connect(outlet_saved, sender=Outlet, dispatch_uid="analytics.outlet_saved")
        connection_created.connect(register_sqlite_functions, dispatch_uid="analytics.register_sqlite_functions")
