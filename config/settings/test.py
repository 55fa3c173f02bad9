"""Test settings: the same stack, made fast and quiet.

The database and broker still come from DATABASE_URL / CELERY_BROKER_URL, so the
same suite runs on SQLite locally and on PostgreSQL + Redis in CI.
"""

from .base import *  # noqa: F403
from .base import (
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CELERY_BROKER_URL,
    DATABASES,
    STORAGES,
    VAR_DIR,
)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LANGUAGE_CODE = "en"
DATABASES["default"]["CONN_MAX_AGE"] = 0

if CELERY_BROKER_URL.startswith("filesystem://"):
    # A folder of its own: the tests' tasks never reach a demo's worker, and a
    # demo's backlog never delays the tests' worker.
    _test_broker = VAR_DIR / "test-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_test_broker / "queue"),
        "data_folder_out": str(_test_broker / "queue"),
        "processed_folder": str(_test_broker / "processed"),
        "store_processed": False,
        "control_folder": str(_test_broker / "control"),
    }
    for _sub in ("queue", "processed", "control"):
        (_test_broker / _sub).mkdir(parents=True, exist_ok=True)
