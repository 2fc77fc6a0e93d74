from django.urls import path

from credits import api, grants_api
from credits.prices import api as prices_api

urlpatterns = [
    path("auth/token/", api.AccessTokenView.as_view(), name="auth-token"),
    path("outlets/", api.OutletListView.as_view(), name="outlet-list"),
    path("agents/", api.AgentListView.as_view(), name="agent-list"),
    path("credits/balances/", api.BalanceListView.as_view(), name="credit-balances"),
    path("credits/ledger/", api.LedgerEntryListView.as_view(), name="credit-ledger"),
    path("credits/set/", api.CreditOperationView.as_view(), name="credit-set"),
    path("credits/grants/", grants_api.GrantListView.as_view(), name="credit-grants"),
    path("credits/grants/<int:pk>/void/", grants_api.GrantVoidView.as_view(), name="credit-grant-void"),
    path("credits/pool/", grants_api.PoolView.as_view(), name="credit-pool"),
    path("credits/allocate/", grants_api.AllocateView.as_view(), name="credit-allocate"),
    path("credits/reclaim/", grants_api.ReclaimView.as_view(), name="credit-reclaim"),
    path("prices/", prices_api.PriceListView.as_view(), name="price-list"),
]
