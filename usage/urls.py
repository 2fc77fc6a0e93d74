from django.urls import path

from usage import api

urlpatterns = [
    path("usage/records/", api.UsageRecordListView.as_view(), name="usage-records"),
    path("usage/records/<int:pk>/", api.UsageRecordDetailView.as_view(), name="usage-record-detail"),
    path("interactions/", api.InteractionListView.as_view(), name="interactions"),
    # `path`: a platform's id may hold a slash.
    path("interactions/<path:interaction_id>/", api.InteractionDetailView.as_view(), name="interaction-detail"),
]
