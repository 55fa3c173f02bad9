"""Production settings: refuse to start without a real secret, harden HTTP.

Passes ``manage.py check --deploy`` once SECRET_KEY and ALLOWED_HOSTS are set.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")  # no default: a missing key must stop the start
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# HSTS preload is an opt-in commitment browsers keep for months (set
# SECURE_HSTS_PRELOAD=true once every subdomain serves HTTPS). Until an operator
# opts in, its reminder (W021) is expected, so it must not fail `check --deploy`.
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]  # noqa: F405

# Logs as JSON lines unless LOG_FORMAT says otherwise (core.observability).
LOGGING["handlers"]["console"]["formatter"] = env.str(  # noqa: F405
    "LOG_FORMAT", default="json"
)
