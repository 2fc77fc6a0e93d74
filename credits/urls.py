from django.urls import path

from credits import api, grants_api
from credits.holds import api as holds_api
from credits.prices import api as prices_api

urlpatterns = [
    path("auth/token/", api.AccessTokenView.as_view(), name="auth-token"),
    path("outlets/", api.OutletListView.as_view(), name="outlet-list"),
    path("agents/", api.AgentListView.as_view(), name="agent-list"),
    # `str`, not `uuid`: a malformed id is a 400 naming it, not a 404.
    path("agents/<str:pk>/", holds_api.AgentControlsView.as_view(), name="agent-detail"),
    path("credits/balances/", api.BalanceListView.as_view(), name="credit-balances"),
    path("credits/ledger/", api.LedgerEntryListView.as_view(), name="credit-ledger"),
    path("credits/set/", api.CreditOperationView.as_view(), name="credit-set"),
    path("credits/grants/", grants_api.GrantListView.as_view(), name="credit-grants"),
    path("credits/grants/<int:pk>/void/", grants_api.GrantVoidView.as_view(), name="credit-grant-void"),
    path("credits/pool/", grants_api.PoolView.as_view(), name="credit-pool"),
    path("credits/allocate/", grants_api.AllocateView.as_view(), name="credit-allocate"),
    path("credits/reclaim/", grants_api.ReclaimView.as_view(), name="credit-reclaim"),
    path("credits/check/", holds_api.CreditCheckView.as_view(), name="credit-check"),
    path("credits/holds/", holds_api.HoldListView.as_view(), name="credit-holds"),
    path("credits/holds/<str:pk>/extend/", holds_api.HoldExtendView.as_view(), name="credit-hold-extend"),
    path("credits/holds/<str:pk>/release/", holds_api.HoldReleaseView.as_view(), name="credit-hold-release"),
    path("prices/", prices_api.PriceListView.as_view(), name="price-list"),
]
