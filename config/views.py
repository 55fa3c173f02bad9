"""Operational endpoints that belong to no app."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        # interval_start=0: kombu otherwise sleeps 2 s before its retry, whatever
        # the timeout, so a down broker held every probe for over 2 s.
        conn.ensure_connection(
            max_retries=1,
            interval_start=0,
            timeout=settings.HEALTHZ_BROKER_TIMEOUT,
        )
    return "ok"


@never_cache
@require_GET
def healthz(request):
    """Report database and broker status: 200 when both answer, else 503.

    Load balancers poll this, so it never raises: a failing part is reported by
    name with the error's class, not as an HTML 500.
    """
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = {"status": check()}
        except Exception as exc:  # noqa: BLE001 - any failure means "down"
            checks[name] = {"status": "error", "error": exc.__class__.__name__}
    healthy = all(c["status"] == "ok" for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """404: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        from members.api.common import error_body

        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """400 (e.g. a Host header not in ALLOWED_HOSTS): JSON under /api/."""
    if _is_api(request):
        from members.api.common import error_body

        return JsonResponse(error_body("bad_request", _("Bad request.")), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    """403 outside DRF (e.g. CSRF): JSON under /api/."""
    if _is_api(request):
        from members.api.common import error_body

        return JsonResponse(
            error_body("permission_denied", _("You may not do this.")), status=403
        )
    return defaults.permission_denied(request, exception)


def server_error(request):
    """500: JSON under /api/ (a client parses it), Django's page elsewhere."""
    if _is_api(request):
        from members.api.common import api_server_error

        return api_server_error(request)
    return defaults.server_error(request)
