"""Test settings: the same stack, made fast and quiet.

The database and broker still come from DATABASE_URL / CELERY_BROKER_URL, so the
same suite runs on SQLite locally and on PostgreSQL + Redis in CI.
"""

from .base import *  # noqa: F403
from .base import DATABASES, STORAGES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LANGUAGE_CODE = "en"
DATABASES["default"]["CONN_MAX_AGE"] = 0
