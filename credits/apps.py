from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = "Credits"

    def ready(self):
        from config import checks
        from credits import tasks  # noqa: F401 - registers the Celery tasks that are enqueued by name
        from credits.checks import check_ledger

        checks.register("ledger", check_ledger)
