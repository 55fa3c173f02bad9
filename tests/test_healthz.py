"""/healthz: what load balancers poll. JSON always, 503 when a part is down."""

import os
import time
from contextlib import contextmanager

import pytest
from django.test import override_settings

from config.celery import app as celery_app

pytestmark = pytest.mark.django_db

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@contextmanager
def broker_unreachable():
    """Point the settings and the already-configured Celery app at a dead broker.

    Celery reads CELERY_BROKER_URL from the environment before its own config
    (CI sets it), so the environment is patched too.
    """
    previous = celery_app.conf.broker_url
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(CELERY_BROKER_URL=UNREACHABLE, HEALTHZ_BROKER_TIMEOUT=0.5),
    ):
        if "CELERY_BROKER_URL" in os.environ:
            patch.setenv("CELERY_BROKER_URL", UNREACHABLE)
        celery_app.conf.broker_url = UNREACHABLE
        try:
            yield
        finally:
            celery_app.conf.broker_url = previous


def test_healthz_reports_database_and_broker_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "broker": {"status": "ok"}},
    }
    assert "no-cache" in response["Cache-Control"]


def test_healthz_reports_an_unreachable_broker_as_503_json(client):
    # Given a broker that does not answer
    with broker_unreachable():
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started

    # Then the probe says so, in JSON, quickly
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["broker"]["error"]  # the exception's class name
    assert b"<html" not in response.content.lower()
    # …without holding the probe longer than the configured wait (0.5 s)
    assert elapsed < 1.5

    # And once the broker is back, so is the 200
    assert client.get("/healthz").status_code == 200


def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405
