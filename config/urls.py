from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView

from config.api.views import ApiIndexView, SchemaView, api_not_found, healthz

admin.site.site_header = "Ledgerline"
admin.site.site_title = "Ledgerline admin"
admin.site.index_title = "Dashboard"

urlpatterns = [
    path("admin/", include("analytics.dashboard.urls")),  # the admin index is the dashboard: before the admin
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    # Swagger UI's setup script comes from a URL of its own (the split view: no inline script); its page keeps an
    # inline <style> block (drf-spectacular's template), so inline styles are allowed there, and only there.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    # The roots (`/api`, `/api/`, `/api/v1`, `/api/v1/`) say where the docs and the schema are.
    re_path(r"^api(?:/v1)?/?$", ApiIndexView.as_view()),
    path("api/v1/", include("credits.urls")),
    path("api/v1/", include("usage.urls")),
    path("api/v1/", include("analytics.urls")),
    # Anything else under /api/ is a JSON 404, even with DEBUG on.
    re_path(r"^api/", api_not_found),
]

handler400 = "config.api.views.bad_request"
handler500 = "config.api.views.server_error"
