"""/api/v1/pos/: the integration API for booking/POS systems (one key per location)."""

from django.urls import path

from rewards.api import pos, pos_refunds

urlpatterns = [
    path("members/lookup", pos.MemberLookupView.as_view(), name="pos-member-lookup"),
    path("members", pos.MemberRegisterView.as_view(), name="pos-member-register"),
    path("quote", pos.QuoteView.as_view(), name="pos-quote"),
    path("visits", pos.VisitRecordView.as_view(), name="pos-visits"),
    # ``path``: booking ids may hold slashes ("2025/06/123").
    path(
        "visits/<path:external_id>/cancel",
        pos_refunds.VisitCancelView.as_view(),
        name="pos-visit-cancel",
    ),
    path(
        "visits/<path:external_id>/refund",
        pos_refunds.VisitRefundView.as_view(),
        name="pos-visit-refund",
    ),
]
