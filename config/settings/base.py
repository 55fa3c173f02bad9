"""Settings shared by every environment.

Every value that differs between a laptop trial and a production deployment is
read from the environment (or from a ``.env`` file beside ``manage.py``); the
README's configuration table lists them all. The defaults give a trial that needs
no server: SQLite in ``var/`` and kombu's filesystem transport as the broker.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

# Templates and translations: at the top of a checkout; an installed wheel carries
# them inside the config package (build_data.py), and BASE_DIR is site-packages.
_SHIPPED_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = _SHIPPED_DIR if (_SHIPPED_DIR / "templates").is_dir() else BASE_DIR

# Runtime files of the trial: the SQLite database, the filesystem broker's queue.
VAR_DIR = Path(env.str("REGULARS_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -------------------------------------------------------------------

SECRET_KEY = env.str("SECRET_KEY", default="insecure-trial-key-change-me-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "core.admin_apps.StaffAdminConfig",  # django.contrib.admin, with staff 2FA
    "django.contrib.auth",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "simple_history",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "phonenumber_field",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's and Redoc's files, served from /static/ instead of a CDN, so
    # /api/docs/ works offline and on networks that block CDNs.
    "drf_spectacular_sidecar",
    "core",
    # Who changed what (django-simple-history): below every app it audits.
    "audit",
    # Event webhooks: below members, rewards and referrals, which emit into it.
    "webhooks",
    "members",
    "rewards",
    "referrals",
    # Promotions and promo codes (and, later, segments and journeys).
    "campaigns",
    # Cross-cutting: bringing a salon's data in (above members and rewards).
    "imports",
    # Dashboards and the manager's home: reads every app above, written by none.
    "analytics",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id, every route is timed.
    "core.observability.RequestIdMiddleware",
    "core.metrics.MetricsMiddleware",
    "core.middleware.StampScopeMiddleware",
    "core.db_unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # The request (its user and IP) for the audit trail's versions.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it answers a locked-out login (axes' own advice).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [DATA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

SILENCED_SYSTEM_CHECKS: list[str] = []
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'regulars.sqlite3'}"
    )
}
# A read replica for the analytics' heavy reads (analytics.db.reading); the
# primary when unset (docs/analytics.md).
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["analytics.db.AnalyticsRouter"]
_db = DATABASES["default"]
_db["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A small shop's trial runs web, worker and beat on one SQLite file. WAL lets
    # readers work beside the single writer, the busy timeout makes a writer wait
    # instead of failing with "database is locked", and IMMEDIATE transactions take
    # the write lock up front so two writers never deadlock on a lock upgrade.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=20000;"
            "PRAGMA foreign_keys=ON;"
        ),
    }
    # Covering indexes (INCLUDE) are PostgreSQL's: SQLite builds the same index
    # without the extra columns, which is all a trial needs.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
elif env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
    # PostgreSQL plans a statement once per connection instead of on every call
    # (psycopg prepares what ran 5 times), and parameters travel apart from the
    # SQL: +26 % me/points, +21 % POS visits on the 1M bench (bench/README.md).
    # Switch off behind PgBouncer's transaction pooling, which moves statements
    # between server connections.
    _db.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same backend, one Redis client per pool instead of one per call.
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"

# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Staff sign-in (django-axes): after STAFF_LOGIN_FAILURE_LIMIT wrong passwords
# for one username from one IP, that pair is locked for STAFF_LOGIN_LOCK_MINUTES
# (an administrator unlocks it sooner in the admin: Axes → Access attempts →
# delete). A right password resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOGIN_LOCK_MINUTES", default=60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"
AXES_LOCKOUT_CALLABLE = "core.staff_auth.lockout_response"
# A second factor (TOTP) for staff who set one up; required of superusers
# when this is on (core.staff_auth).
STAFF_2FA_REQUIRED_FOR_SUPERUSERS = env.bool(
    "STAFF_2FA_REQUIRED_FOR_SUPERUSERS", default=False
)
OTP_TOTP_ISSUER = env.str("BUSINESS_NAME", default="Regulars")
# A staff session ends this many hours after sign-in, used or not.
SESSION_COOKIE_AGE = env.int("STAFF_SESSION_HOURS", default=12) * 3600

# The audit trail's versions are a record, not an undo: no "revert" in the admin.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [DATA_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
# One date format per language (config/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Celery -----------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: queues are files in one folder that the web
    # process, the worker and beat all share. No server to install.
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Broadcast (pidbox) exchange files; kombu's default is ./control in the
        # current directory, which would litter the source tree.
        "control_folder": str(_broker_dir / "control"),
    }
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Fail fast instead of hanging when Redis is unreachable (/healthz relies on it).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 5}
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'celery-results'}"
)
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(
        parents=True, exist_ok=True
    )
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
# A task is acknowledged after it ran, so a worker killed mid-task hands it to
# another worker; every task is idempotent, so running twice is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The worker logs through LOGGING (request ids, masking, JSON), not its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# How long /healthz waits for the broker before calling it down.
HEALTHZ_BROKER_TIMEOUT = env.float("HEALTHZ_BROKER_TIMEOUT", default=2.0)

# --- Regulars ---------------------------------------------------------------

# Analytics (docs/analytics.md): a member is *active* at a date with a paid
# visit in the days before it, *lost* when the last one is older than this.
ANALYTICS_ACTIVE_DAYS = env.int("ANALYTICS_ACTIVE_DAYS", default=90)
ANALYTICS_LOST_DAYS = env.int("ANALYTICS_LOST_DAYS", default=180)
# The longest window of days whose distinct members (repeat purchase rate,
# churn) are read from analytics.SpanStat; a longer one is counted from the
# visits. 550 covers a 12-month period's churn (12 months + LOST_DAYS).
# Changing it (or the two above) takes an analytics_rebuild.
ANALYTICS_SPAN_DAYS = env.int("ANALYTICS_SPAN_DAYS", default=550)

REGULARS_CURRENCY = env.str("CURRENCY", default="RUB")
# The business's name in messages and public pages, the site's public address
# (links in messages: unsubscribe, the app), and the client app's link.
REGULARS_BUSINESS_NAME = env.str("BUSINESS_NAME", default="Regulars")
REGULARS_PUBLIC_URL = env.str("PUBLIC_URL", default="")
REGULARS_APP_LINK = env.str("APP_LINK", default="")
# Region used to read phone numbers typed without a country code ("8 916 …").
PHONENUMBER_DEFAULT_REGION = env.str("PHONE_REGION", default="RU")
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "INTERNATIONAL"

# Reactions to "visit recorded / cancelled / refunded", in order (members/
# visit_flow.py). Reversals run bottom-up. Later apps append theirs here.
# Threads the nightly points jobs use on PostgreSQL (each on its own connection,
# each a member-id chunk at a time).
REGULARS_JOB_WORKERS = env.int("JOB_WORKERS", default=2)

REGULARS_VISIT_REACTIONS = [
    "rewards.flow.RewardsVisitReaction",
    "referrals.flow.ReferralVisitReaction",
    "campaigns.flow.CampaignVisitReaction",
]
# Reactions to "member signed up / signed in / erased" (members/member_flow.py).
# Who may take money off a visit at checkout, in order (``rewards.benefits``):
# campaigns' promotions plug in here.
# The program's configuration as one document (program_export / program_import):
# functions returning each app's sections, in the order they are applied.
REGULARS_PROGRAM_SECTIONS = [
    "rewards.program_io.rewards_sections",
    "campaigns.program_io.campaigns_sections",
]
REGULARS_BENEFIT_SOURCES = [
    "rewards.benefits.TierDiscountSource",
    "rewards.benefits.FirstVisitDiscountSource",
    "campaigns.benefits.PromotionSource",
    "rewards.benefits.VoucherSource",
]
# Promotions never bring a bill's discount (tier, first visit and promotions
# together) beyond this share of its list price, in percent.
CAMPAIGNS_MAX_DISCOUNT_PERCENT = env.float(
    "CAMPAIGNS_MAX_DISCOUNT_PERCENT", default=100
)
# Wrong promo codes one member, or one POS key, may try in an hour before their
# codes are refused (``promo_code_locked``) for the rest of it; 0: no limit.
CAMPAIGNS_CODE_GUESSES = env.int("CAMPAIGNS_CODE_GUESSES", default=10)

REGULARS_MEMBER_REACTIONS = [
    "referrals.flow.ReferralMemberReaction",
]

# --- Referrals ------------------------------------------------------------------

# The shareable link of a member's code. Empty: this server's landing page
# (/r/<code>). Set it to the app's universal link, e.g.
# "https://salon.example/invite/{code}".
REFERRAL_LINK_TEMPLATE = env.str("REFERRAL_LINK_TEMPLATE", default="")
# Fraud holds: referrals matching any of these wait for a manager's review
# instead of paying out. A sign-up is "fast" when the referrer already had
# REFERRAL_HOLD_SIGNUPS sign-ups in the last REFERRAL_HOLD_WINDOW_MINUTES.
REFERRAL_HOLD_SIGNUPS = env.int("REFERRAL_HOLD_SIGNUPS", default=3)
REFERRAL_HOLD_WINDOW_MINUTES = env.int("REFERRAL_HOLD_WINDOW_MINUTES", default=60)
# A friend signing up in the app from a device id (or IP) the referrer used.
REFERRAL_HOLD_SAME_DEVICE = env.bool("REFERRAL_HOLD_SAME_DEVICE", default=True)
REFERRAL_HOLD_SAME_IP = env.bool("REFERRAL_HOLD_SAME_IP", default=True)
# The first visits of this many friends paid with one card token (0: off), and
# a friend's first visit paid with a card the referrer paid with.
REFERRAL_HOLD_CARD_FRIENDS = env.int("REFERRAL_HOLD_CARD_FRIENDS", default=2)
REFERRAL_HOLD_REFERRER_CARD = env.bool("REFERRAL_HOLD_REFERRER_CARD", default=True)

# --- Imports (imports/: the admin's import page) --------------------------------

# Uploaded files, their progress and their reports, one folder per job. The web
# process writes the upload and reads the progress, the worker runs the import:
# both must see the same folder (one machine, or a shared volume).
IMPORTS_DIR = Path(env.str("IMPORTS_DIR", default=str(VAR_DIR / "imports")))
# The largest file the upload form accepts, in bytes (200 MB).
IMPORTS_MAX_UPLOAD_BYTES = env.int("IMPORTS_MAX_UPLOAD_BYTES", default=200 * 1024**2)
# A run whose progress has not moved for this long is shown as stalled and can
# be started again (the importers are idempotent).
IMPORTS_STALL_MINUTES = env.int("IMPORTS_STALL_MINUTES", default=30)
# An import of a big file outlasts CELERY_TASK_TIME_LIMIT: its task has its own
# limit (seconds); at the soft one the job is marked failed.
IMPORTS_TASK_TIME_LIMIT = env.int("IMPORTS_TASK_TIME_LIMIT", default=6 * 60 * 60)
# Uploaded files and their reports (clients' personal data) are deleted this
# many days after the upload; the list of imports keeps their figures.
IMPORTS_KEEP_DAYS = env.int("IMPORTS_KEEP_DAYS", default=30)
# A real import of a visits file at least this large (bytes) on PostgreSQL
# drops the visits' foreign keys for the load and validates them after it
# (imports/keys.py): a quarter of the time of a big load. 0 turns it off.
IMPORTS_KEYS_ASIDE_MIN_BYTES = env.int(
    "IMPORTS_KEYS_ASIDE_MIN_BYTES", default=20 * 1024**2
)

# --- Webhooks -------------------------------------------------------------------

# Event webhooks to integrations (webhooks/, docs/webhooks.md).
WEBHOOKS_TIMEOUT = env.float("WEBHOOKS_TIMEOUT", default=5.0)
# Seconds between retries after a failed attempt; the last one repeats.
WEBHOOKS_RETRY_SCHEDULE = env.list(
    "WEBHOOKS_RETRY_SCHEDULE", cast=int, default=[60, 300, 1800, 7200, 21600, 43200]
)
# A delivery still failing this long after its event is given up.
WEBHOOKS_RETRY_FOR_HOURS = env.int("WEBHOOKS_RETRY_FOR_HOURS", default=72)
# An endpoint with only failures (no success) for this many days is disabled.
WEBHOOKS_DISABLE_AFTER_DAYS = env.int("WEBHOOKS_DISABLE_AFTER_DAYS", default=3)
# Delivered (and given-up) deliveries and their events are deleted after this.
WEBHOOKS_KEEP_DAYS = env.int("WEBHOOKS_KEEP_DAYS", default=30)
# How long a process trusts what it knows of the subscriptions before it checks
# the change stamp: another process sees a new endpoint within this time.
WEBHOOKS_SUBSCRIPTIONS_TTL = env.float("WEBHOOKS_SUBSCRIPTIONS_TTL", default=10.0)

# --- API ----------------------------------------------------------------------

REST_FRAMEWORK = {
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Each view names its own authentication (members.api.auth base views).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "members.api.common.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "members.api.common.exception_handler",
    # No OPTIONS introspection: the schema at /api/schema/ documents every view.
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Limits per caller; they need a shared cache in production (CACHE_URL).
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "member": env.str("API_THROTTLE_MEMBER", default="120/min"),
        "pos": env.str("API_THROTTLE_POS", default="6000/min"),
        "otp_request": env.str("API_THROTTLE_OTP_REQUEST", default="5/hour"),
        "otp_verify": env.str("API_THROTTLE_OTP_VERIFY", default="20/min"),
    },
    # How many proxies sit in front of the app: 0 trusts only REMOTE_ADDR (a
    # client cannot fake its IP with X-Forwarded-For); 1 behind one nginx.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
# A database fault answers the API with 503 service_unavailable and this
# Retry-After (core.db_unavailable): the app and the POS try again then.
API_RETRY_AFTER_SECONDS = env.int("API_RETRY_AFTER_SECONDS", default=5)
SPECTACULAR_SETTINGS = {
    "TITLE": "Regulars API",
    "DESCRIPTION": (
        "The client API (the mobile app: a member signed in by phone) and the "
        "integration API (a booking/POS system with a per-location key). Errors "
        "are JSON {code, message, fields?} with stable codes."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ loads Swagger UI from our static files (drf_spectacular_sidecar),
    # never from a CDN: the docs must work on a laptop offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No online validator badge: it would send the schema's URL to swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        # Profile and Me both show it: keep the name it had with Profile alone.
        "ProfileStatusEnum": "members.models.Member.Status",
        "LedgerEntryKindEnum": "rewards.models.LedgerEntry.Kind",
        "RewardKindEnum": "rewards.models.Reward.Kind",
        "VoucherStatusEnum": "rewards.models.Voucher.Status",
        "VoucherSourceEnum": "rewards.models.Voucher.Source",
    },
}

# Members' sign-in tokens expire this many days after their last use (each
# use, or POST auth/refresh, starts the period again).
MEMBER_TOKEN_TTL_DAYS = env.int("MEMBER_TOKEN_TTL_DAYS", default=90)

# Phone sign-in: codes, their lifetime, and the brute-force lock.
OTP_LENGTH = 6
OTP_TTL_SECONDS = env.int("OTP_TTL_SECONDS", default=300)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)  # per code
OTP_LOCK_AFTER = env.int("OTP_LOCK_AFTER", default=10)  # wrong codes in a row
OTP_LOCK_MINUTES = env.int("OTP_LOCK_MINUTES", default=60)
OTP_RESEND_SECONDS = env.int("OTP_RESEND_SECONDS", default=60)
OTP_MAX_PER_PHONE_HOUR = env.int("OTP_MAX_PER_PHONE_HOUR", default=5)
OTP_MAX_PER_IP_HOUR = env.int("OTP_MAX_PER_IP_HOUR", default=30)
# "+79990000001:123456,+79990000002:654321": app-store reviewers and automated
# tests sign in with fixed codes; these numbers never get an SMS.
OTP_TEST_NUMBERS = dict(
    item.split(":", 1)
    for item in env.list("OTP_TEST_NUMBERS", default=[])
    if ":" in item
)

# --- Outbox -------------------------------------------------------------------

# Channel → backend class (members/messaging/backends.py).
REGULARS_MESSAGE_BACKENDS = {
    "sms": env.str(
        "MESSAGE_BACKEND_SMS", default="members.messaging.backends.LogBackend"
    ),
    "email": env.str(
        "MESSAGE_BACKEND_EMAIL", default="members.messaging.backends.EmailBackend"
    ),
    "push": env.str(
        "MESSAGE_BACKEND_PUSH", default="members.messaging.backends.LogBackend"
    ),
    "in_app": "members.messaging.backends.InAppBackend",
}
# The signed HTTP webhook backend posts here (an SMS/push gateway or a bridge).
MESSAGE_WEBHOOK_URL = env.str("MESSAGE_WEBHOOK_URL", default="")
MESSAGE_WEBHOOK_SECRET = env.str("MESSAGE_WEBHOOK_SECRET", default="")
MESSAGE_WEBHOOK_TIMEOUT = env.float("MESSAGE_WEBHOOK_TIMEOUT", default=10.0)
MESSAGE_MAX_ATTEMPTS = env.int("MESSAGE_MAX_ATTEMPTS", default=6)
# Marketing messages wait for the morning: "22:00-09:00" in TIME_ZONE.
MESSAGE_QUIET_HOURS = env.str("MESSAGE_QUIET_HOURS", default="21:00-09:00")
# What a marketing message queued in quiet hours does: "defer" (sent when they
# end) or "skip" (status skipped, reason quiet_hours). Transactional ones ignore them.
MESSAGE_QUIET_HOURS_ACTION = env.str("MESSAGE_QUIET_HOURS_ACTION", default="defer")
# EMAIL_URL: smtp+tls://user:password@host:587 (STARTTLS), smtp+ssl://…:465,
# smtp://host:25;
# the default prints emails to the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Regulars <noreply@localhost>"
)

# Salt of the hash kept of an erased member's phone (members.privacy.phone_hash).
# Never change it once set: stored hashes would stop matching returning numbers.
PHONE_HASH_SALT = env.str("PHONE_HASH_SALT", default=SECRET_KEY)

# Each app's message kinds by template key, with the label staff read.
REGULARS_MESSAGE_TYPES = [
    "members.messaging.types.MESSAGE_TYPES",
    "rewards.messages.MESSAGE_TYPES",
    "referrals.messages.MESSAGE_TYPES",
]

# Sections of a member's data export (GET /api/v1/me/export), in order; each is
# a function (member) -> dict. Later apps append theirs.
# Data retention (core.retention): each app's purge, run nightly, and how
# long each kind of record is kept.
REGULARS_RETENTION_PURGES = [
    "core.retention.purge_staff_sign_ins",
    "members.retention.purge",
    "rewards.retention.purge",
]
RETENTION_SIGN_IN_CODES_DAYS = env.int("RETENTION_SIGN_IN_CODES_DAYS", default=30)
RETENTION_MESSAGES_DAYS = env.int("RETENTION_MESSAGES_DAYS", default=365)
RETENTION_JOB_RUNS_DAYS = env.int("RETENTION_JOB_RUNS_DAYS", default=400)
RETENTION_STAFF_SIGN_INS_DAYS = env.int("RETENTION_STAFF_SIGN_INS_DAYS", default=365)

REGULARS_MEMBER_EXPORT_SECTIONS = [
    "members.privacy.export_section",
    "rewards.export.export_section",
    "referrals.export.export_section",
]

# What the apps add to GET /api/v1/me, in order (members/api/me_sections.py):
# each a class with a ``name`` (the key), a DRF ``serializer_class`` (the
# schema) and ``data(member) -> dict``. Later apps append theirs.
REGULARS_ME_SECTIONS = ["rewards.api.me.RewardsMeSection"]

# --- Logging ----------------------------------------------------------------

# JSON lines in production (LOG_FORMAT=json), plain text on a laptop; every
# line with the request's id, phones, codes and tokens masked
# (core.observability).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.observability.RequestIdFilter"},
        "mask": {"()": "core.observability.MaskFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
            },
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id", "mask"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes: its start-up banner and every counted attempt at INFO;
        # the locks themselves are warnings.
        "axes": {"level": "WARNING"},
    },
}

# Monitoring: Prometheus metrics at /metrics for a scraper sending
# "Authorization: Bearer <METRICS_TOKEN>" (no token set: no /metrics).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
REGULARS_METRICS = [
    "members.metrics.collect",
    "rewards.metrics.collect",
    "webhooks.metrics.collect",
]

# Error reporting (off by default): Sentry's SDK when SENTRY_DSN is set. No
# personal data is sent (send_default_pii off).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
