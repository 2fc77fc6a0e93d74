from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self):
        from config import checks
        from usage.checks import check_holds

        checks.register("holds", check_holds)
