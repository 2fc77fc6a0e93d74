from django.urls import path

from analytics.dashboard.views import admin_index

# Mounted at admin/ before admin.site.urls (config/urls.py), so the admin's home is the dashboard.
urlpatterns = [path("", admin_index, name="dashboard")]
