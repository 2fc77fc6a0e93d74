from django.contrib.admin.apps import AdminConfig


class LedgerlineAdminConfig(AdminConfig):
    """Django's admin with Ledgerline's site, whose sidebar lists the domain first (config.admin)."""

    default_site = "config.admin.LedgerlineAdminSite"
