"""/api/v1/: the client API (members) and the integration API (POS)."""

from django.urls import include, path

# Resolved top to bottom on every request: the busiest first (a till's
# visits and quotes, the app's points screen). No two lists share a path.
urlpatterns = [
    path("pos/", include("rewards.api.pos_urls")),
    path("", include("rewards.api.member_urls")),
    path("", include("members.api.urls")),
    path("", include("members.api.messages")),
    path("", include("referrals.api")),
    path("", include("campaigns.api")),
]
