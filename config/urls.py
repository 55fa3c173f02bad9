from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.views import healthz
from core.metrics import metrics_view
from members.messaging.views import unsubscribe
from referrals.views import landing as referral_landing

urlpatterns = [
    # The API first: it takes most requests, and each is resolved top to bottom.
    path("api/v1/", include("config.api_urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/analytics/", include("analytics.urls")),
    path("admin/", admin.site.urls),
    path("r/<str:code>", referral_landing, name="referral-landing"),
    path("unsubscribe/<str:token>", unsubscribe, name="unsubscribe"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
