from importlib import import_module

from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = "Credits"

    def import_models(self):
        super().import_models()
        # The price book's, the holds' and top-ups' models, kept apart in their packages.
        import_module("credits.prices.models")
        import_module("credits.holds.models")

    def ready(self):
        from config import checks
        from credits import tasks  # noqa: F401 - registers the Celery tasks that are enqueued by name
        from credits.checks import check_ledger

        checks.register("ledger", check_ledger)
