from django.urls import path

from usage import api

urlpatterns = [
    path("usage/records/", api.UsageRecordListView.as_view(), name="usage-records"),
    path("interactions/", api.InteractionUpsertView.as_view(), name="interactions"),
]
