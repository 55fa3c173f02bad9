"""Observability: a request id on every log line and in the tasks a request
enqueues, personal data masked in logs, JSON lines, and /metrics behind its
token."""

import json
import logging
import logging.config

import pytest
from celery import shared_task
from django.conf import settings
from django.test import override_settings

from core import observability
from core.observability import MaskFilter, RequestIdFilter, mask, request_id
from rewards.models import JobRun

pytestmark = pytest.mark.django_db


@shared_task(name="tests.test_observability.which_request")
def which_request() -> str:
    return request_id()


def test_a_response_carries_its_request_id(client):
    first = client.get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert client.get("/healthz")["X-Request-ID"] != first["X-Request-ID"]
    # a proxy's id is kept; anything else is replaced
    assert (
        client.get("/healthz", HTTP_X_REQUEST_ID="lb-42.a")["X-Request-ID"] == "lb-42.a"
    )
    bad = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert bad != "<script>" and len(bad) == 32


def test_log_lines_carry_the_request_id():
    seen = []

    def view(request):
        record = logging.LogRecord("x", logging.INFO, "f", 1, "hello", None, None)
        RequestIdFilter().filter(record)
        seen.append((request.request_id, record.request_id))
        from django.http import HttpResponse

        return HttpResponse()

    from django.test import RequestFactory

    observability.RequestIdMiddleware(view)(RequestFactory().get("/"))
    ((given, logged),) = seen
    assert given == logged and len(given) == 32
    outside = logging.LogRecord("x", logging.INFO, "f", 1, "m", None, None)
    RequestIdFilter().filter(outside)
    assert outside.request_id == "-"


def test_a_task_runs_under_the_id_of_the_request_that_sent_it():
    headers = {}
    token = observability._request_id.set("req-7")
    try:
        observability._publish(headers=headers)
    finally:
        observability._request_id.reset(token)
    assert headers == {"request_id": "req-7"}
    # In the worker: the header becomes the task's request id
    assert which_request.apply(headers=headers).get() == "req-7"
    assert request_id() == ""  # and is gone after the task


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("SMS to +79161234567 sent", "SMS to +•••••••••67 sent"),
        ("phone +7 916 123-45-67!", "phone +•••••••••67!"),
        ("sign-in code: 123456", "sign-in code: ••••••"),
        ("token rgm_AbCdEf123456789xyz used", "token rgm_••• used"),
        ("key rgk_Zz9_-aaaaaaa", "key rgk_•••"),
        ("8 916 123 45 67 called", "+•••••••••67 called"),
        ("visit 12345 for 3000.00", "visit 12345 for 3000.00"),
        ("refreshed 2026-12-05 12:30:13", "refreshed 2026-12-05 12:30:13"),
        ("job 2026-12-05 (1234567890)", "job 2026-12-05 (1234567890)"),
    ],
)
def test_personal_data_is_masked(text, masked):
    assert mask(text) == masked


def test_the_mask_applies_to_formatted_messages():
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "to %s with code %s", ("+79161234567", "4321"), None
    )
    MaskFilter().filter(record)
    assert record.getMessage() == "to +•••••••••67 with code ••••"


def test_json_lines_in_production():
    config = json.loads(json.dumps(settings.LOGGING))
    config["handlers"]["console"]["formatter"] = "json"
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["json"]
    )
    record = logging.LogRecord(
        "members", logging.WARNING, "f", 1, "hi %s", ("+79161234567",), None
    )
    RequestIdFilter().filter(record)
    MaskFilter().filter(record)
    line = json.loads(formatter.format(record))
    assert line["level"] == "WARNING" and line["logger"] == "members"
    assert line["message"] == "hi +•••••••••67" and line["request_id"] == "-"
    assert "time" in line


def test_metrics_need_their_token(client):
    assert client.get("/metrics").status_code == 404  # no token set: no metrics
    with override_settings(METRICS_TOKEN="s3cret"):
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == "Bearer"
        assert (
            client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code
            == 200
        )


@override_settings(METRICS_TOKEN="s3cret")
def test_metrics_show_the_program_and_the_requests(client, member, record_visit):
    from django.utils import timezone

    record_visit(member)
    now = timezone.now()
    JobRun.objects.create(
        job="lots_expire", business_date=timezone.localdate(), status=JobRun.Status.DONE,
        started_at=now - timezone.timedelta(seconds=3), finished_at=now,
    )  # fmt: skip
    client.get("/healthz")
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()
    assert 'regulars_visits_today{status="paid"} 1.0' in text
    assert 'regulars_outbox_messages{state="queued"}' in text
    assert 'regulars_points_today{movement="issued"}' in text
    assert 'regulars_job_last_duration_seconds{job="lots_expire"} 3.0' in text
    assert 'regulars_webhook_deliveries{state="pending"} 0.0' in text
    assert (
        'regulars_http_request_seconds_count{method="GET",route="healthz",status="200"}'
        in text
    )
