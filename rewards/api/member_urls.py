"""/api/v1/: the member's points, tier, reward catalogue and vouchers."""

from django.urls import path

from rewards.api import member

urlpatterns = [
    path("me/points", member.PointsView.as_view(), name="api-me-points"),
    path(
        "me/transactions",
        member.TransactionsView.as_view(),
        name="api-me-transactions",
    ),
    path("me/tier", member.TierView.as_view(), name="api-me-tier"),
    path("rewards", member.RewardsView.as_view(), name="api-rewards"),
    path(
        "rewards/<int:pk>/redeem",
        member.RewardRedeemView.as_view(),
        name="api-reward-redeem",
    ),
    path("me/vouchers", member.VouchersView.as_view(), name="api-me-vouchers"),
    path(
        "me/vouchers/<int:pk>",
        member.VoucherView.as_view(),
        name="api-me-voucher",
    ),
    path(
        "me/vouchers/<int:pk>/cancel",
        member.VoucherCancelView.as_view(),
        name="api-me-voucher-cancel",
    ),
]
