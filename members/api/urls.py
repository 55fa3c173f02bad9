"""/api/v1/: phone sign-in and the member's own profile, card, visits and data."""

from django.urls import path

from members.api import member, sessions

urlpatterns = [
    path(
        "auth/otp/request",
        member.OtpRequestView.as_view(),
        name="api-otp-request",
    ),
    path("auth/otp/verify", member.OtpVerifyView.as_view(), name="api-otp-verify"),
    path("auth/logout", member.LogoutView.as_view(), name="api-logout"),
    path("auth/refresh", sessions.RefreshView.as_view(), name="api-token-refresh"),
    path("me/sessions", sessions.SessionListView.as_view(), name="api-me-sessions"),
    path(
        "me/sessions/<int:pk>",
        sessions.SessionDetailView.as_view(),
        name="api-me-session",
    ),
    path("me", member.MeView.as_view(), name="api-me"),
    path("me/card", member.MeCardView.as_view(), name="api-me-card"),
    path("me/card/qr.png", member.MeCardPngView.as_view(), name="api-me-card-png"),
    path("me/card/qr.svg", member.MeCardSvgView.as_view(), name="api-me-card-svg"),
    path("me/visits", member.MeVisitsView.as_view(), name="api-me-visits"),
    path("me/export", member.MeExportView.as_view(), name="api-me-export"),
]
