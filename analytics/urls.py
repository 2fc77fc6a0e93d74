from django.urls import path

from analytics.api import views
from analytics.requestlog import api as requestlog_api

urlpatterns = [
    path("usage/series/", views.UsageSeriesView.as_view(), name="usage-series"),
    path("usage/snapshot/", views.UsageSnapshotView.as_view(), name="usage-snapshot"),
    path("usage/summary/", views.UsageSummaryView.as_view(), name="usage-summary"),
    path("analytics/models/", views.ModelUsageView.as_view(), name="analytics-models"),
    path("analytics/spend/", views.SpendOverviewView.as_view(), name="analytics-spend"),
    path("analytics/usage/", views.UsageBreakdownView.as_view(), name="analytics-usage"),
    # In the contract under credits/, but an analytics answer: credits/urls.py has no such path.
    path("credits/history/", views.CreditHistoryView.as_view(), name="credit-history"),
    path("analytics/requests/", requestlog_api.RequestAnalyticsView.as_view(), name="analytics-requests"),
    path("request-log/", requestlog_api.RequestLogListView.as_view(), name="request-log"),
]
