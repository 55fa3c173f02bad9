"""/api/v1/: the client API (members) and the integration API (POS)."""

from django.urls import include, path

urlpatterns = [
    path("", include("members.api.urls")),
    path("", include("members.api.messages")),
    path("", include("rewards.api.member_urls")),
    path("", include("referrals.api")),
    path("pos/", include("rewards.api.pos_urls")),
]
