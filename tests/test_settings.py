"""Settings per environment, read in fresh interpreters so each case sees only
the environment variables it sets (and writes only in its own var dir)."""

import json
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

# Everything the settings read from the environment; removed so the parent's
# values (CI's DATABASE_URL, say) never leak into a case.
SETTINGS_ENV = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "DATABASE_CONN_MAX_AGE",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "TIME_ZONE",
    "LANGUAGE_CODE",
    "CURRENCY",
    "PHONE_REGION",
    "PHONE_HASH_SALT",
    "CACHE_URL",
    "STATIC_ROOT",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "REGULARS_VAR_DIR",
}

PROBE = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"],
    "name": str(db["NAME"]),
    "host": db.get("HOST", ""),
    "user": db.get("USER", ""),
    "port": db.get("PORT", ""),
    "options": db.get("OPTIONS", {}),
    "conn_max_age": db["CONN_MAX_AGE"],
    "broker": settings.CELERY_BROKER_URL,
    "broker_options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "result_backend": settings.CELERY_RESULT_BACKEND,
    "time_zone": settings.TIME_ZONE,
    "celery_timezone": settings.CELERY_TIMEZONE,
    "languages": [code for code, _name in settings.LANGUAGES],
    "language_code": settings.LANGUAGE_CODE,
    "currency": settings.REGULARS_CURRENCY,
    "debug": settings.DEBUG,
}))
"""

PG_URL = "postgres://u:p@db.example:5432/regulars"
REDIS_URL = "redis://r:6379/0"


def random_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(50))


@pytest.fixture
def run(tmp_path):
    """Run Python (``-c code`` or ``manage.py …``) with only the given settings env."""

    def run(*args, **env_vars):
        env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
        env["REGULARS_VAR_DIR"] = str(tmp_path / "var")
        env.update(env_vars)
        return subprocess.run(
            [sys.executable, *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def probe(run):
    def probe(**env_vars):
        done = run("-c", PROBE, **env_vars)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return probe


PROD = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "ALLOWED_HOSTS": "example.com",
    "PHONE_HASH_SALT": "a-long-random-salt-kept-forever",
}


@pytest.fixture(params=["dev", "prod"])
def environment(request) -> dict:
    if request.param == "dev":
        return {"DJANGO_SETTINGS_MODULE": "config.settings.dev"}
    return {**PROD, "SECRET_KEY": random_secret_key()}


def test_defaults_need_no_server(probe, environment, tmp_path):
    # Given no DATABASE_URL and no CELERY_BROKER_URL
    s = probe(**environment)

    # Then the database is SQLite in the var dir, tuned for one shared file
    var = tmp_path / "var"
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(var / "regulars.sqlite3")
    assert s["options"]["transaction_mode"] == "IMMEDIATE"
    assert "PRAGMA journal_mode=WAL;" in s["options"]["init_command"]
    assert "PRAGMA busy_timeout=20000;" in s["options"]["init_command"]
    assert s["options"]["timeout"] == 20
    assert s["conn_max_age"] == 0
    # And the broker is the filesystem transport, with its folders made
    assert s["broker"] == "filesystem://"
    assert s["broker_options"]["data_folder_in"] == str(var / "broker" / "queue")
    assert (var / "broker" / "queue").is_dir()
    assert (var / "broker" / "processed").is_dir()
    assert s["result_backend"] == f"file://{var / 'celery-results'}"


def test_database_and_broker_urls_switch_to_postgresql_and_redis(probe, environment):
    s = probe(**environment, DATABASE_URL=PG_URL, CELERY_BROKER_URL=REDIS_URL)

    assert s["engine"] == "django.db.backends.postgresql"
    assert (s["name"], s["host"], s["port"], s["user"]) == (
        "regulars",
        "db.example",
        5432,
        "u",
    )
    assert "transaction_mode" not in s["options"]
    assert s["conn_max_age"] == 60
    assert s["broker"] == REDIS_URL
    # No filesystem folders; a connect timeout so an unreachable Redis fails fast.
    assert s["broker_options"] == {"socket_connect_timeout": 5}


def test_regional_defaults(probe, environment):
    s = probe(**environment)

    assert s["time_zone"] == s["celery_timezone"] == "Europe/Moscow"
    assert s["language_code"] == "en"
    assert {"en", "ru"} <= set(s["languages"])
    assert s["currency"] == "RUB"


def test_debug_is_on_in_dev_and_off_in_prod(probe):
    assert probe(DJANGO_SETTINGS_MODULE="config.settings.dev")["debug"] is True
    prod = probe(**PROD, SECRET_KEY=random_secret_key(), DEBUG="true")
    assert prod["debug"] is False


def test_prod_refuses_to_start_without_a_secret_key(run):
    done = run("-c", PROBE, **PROD)

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "SECRET_KEY" in done.stderr


def test_prod_refuses_to_start_without_allowed_hosts(run):
    done = run(
        "-c",
        PROBE,
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        SECRET_KEY=random_secret_key(),
    )

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "ALLOWED_HOSTS" in done.stderr


# How a production deployment sends SMS and push: a signed webhook.
MESSAGES = {
    "MESSAGE_BACKEND_SMS": "members.messaging.backends.WebhookBackend",
    "MESSAGE_BACKEND_PUSH": "members.messaging.backends.WebhookBackend",
    "MESSAGE_WEBHOOK_URL": "https://sms-gateway.example.com/hook",
    "MESSAGE_WEBHOOK_SECRET": "a-long-random-secret",
}


@pytest.mark.parametrize("preload", ["false", "true"], ids=["no-preload", "preload"])
def test_prod_passes_the_deploy_checklist(run, preload):
    done = run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PROD,
        **MESSAGES,
        SECRET_KEY=random_secret_key(),
        SECURE_HSTS_PRELOAD=preload,
    )

    assert done.returncode == 0, done.stderr + done.stdout


def test_deploy_check_warns_while_sign_in_codes_go_to_the_log(run):
    done = run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PROD,
        SECRET_KEY=random_secret_key(),
    )

    assert done.returncode != 0
    assert "regulars.W001" in done.stderr + done.stdout


def test_deploy_check_warns_about_a_webhook_without_its_secret(run):
    done = run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PROD,
        **{**MESSAGES, "MESSAGE_WEBHOOK_SECRET": ""},
        SECRET_KEY=random_secret_key(),
    )

    assert done.returncode != 0
    assert "regulars.W002" in done.stderr + done.stdout


@pytest.mark.parametrize("salt_set", [False, True], ids=["unset", "the-secret-key"])
def test_deploy_check_warns_while_the_phone_salt_is_the_secret_key(run, salt_set):
    # Given production settings whose PHONE_HASH_SALT is unset (it falls back to
    # SECRET_KEY) or set to the SECRET_KEY's value
    key = random_secret_key()
    env = {k: v for k, v in PROD.items() if k != "PHONE_HASH_SALT"}
    if salt_set:
        env["PHONE_HASH_SALT"] = key

    done = run(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **env,
        **MESSAGES,
        SECRET_KEY=key,
    )

    # Then the deploy check fails: rotating the key would break the stored hashes
    assert done.returncode != 0
    assert "regulars.W003" in done.stderr + done.stdout


def test_dev_settings_pass_the_system_checks(run):
    done = run("manage.py", "check", DJANGO_SETTINGS_MODULE="config.settings.dev")

    assert done.returncode == 0, done.stderr + done.stdout
