"""Delivery through the worker to a real local HTTP server: the request and its
signature, retries on the backoff schedule, giving up, disabling an endpoint
that fails for days, pruning, the operator's command."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from members import roles
from members.services import member_register
from tests.webhooks.conftest import deliver
from webhooks import delivery as webhook_delivery
from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint, Event

T0 = "2026-03-02 09:00:00+00:00"
DOCS = Path(django_settings.BASE_DIR) / "docs" / "webhooks.md"


def register(phone="+79161230001", **kwargs):
    return member_register(phone=phone, first_name="Anna", last_name="S", **kwargs)


def docs_verify_function():
    """The verification example of docs/webhooks.md, run as written."""
    text = DOCS.read_text()
    block = re.search(
        r"## Verifying the signature.*?```python\n(.*?)```", text, re.DOTALL
    ).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify_regulars_webhook"]


# --- The request ------------------------------------------------------------------


def test_a_delivery_is_a_signed_json_post(make_endpoint, receiver):
    # Given an endpoint for member.created
    endpoint = make_endpoint(events=["member.created"])

    # When a member registers and the worker runs
    member = register(email="anna@example.com")
    assert deliver() == 1

    # Then the receiver got one POST with the event as JSON
    [request] = receiver.requests
    body = request.json
    event = Event.objects.get()
    assert body == {
        "id": str(event.id),
        "type": "member.created",
        "created_at": body["created_at"],
        "data": {
            "member_id": member.pk,
            "phone": "+79161230001",
            "first_name": "Anna",
            "last_name": "S",
            "email": "anna@example.com",
            "status": "active",
        },
    }
    assert body["created_at"].endswith("Z")
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Regulars-Webhooks/1"
    assert headers["X-Regulars-Event"] == "member.created"
    d = Delivery.objects.get()
    assert headers["X-Regulars-Delivery"] == str(d.pk)
    # And the signature is HMAC-SHA256(secret, "<timestamp>.<raw body>")
    timestamp = headers["X-Regulars-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(
        endpoint.secret.encode(),
        f"{timestamp}.".encode() + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-Regulars-Signature"] == f"v1={expected}"
    # And the delivery is delivered, its attempt logged
    assert (d.status, d.attempts, d.last_status_code) == ("delivered", 1, 200)
    [attempt] = Attempt.objects.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == '{"ok": true}'
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None and endpoint.failing_since is None
    # And a second run sends nothing again
    assert deliver() == 0
    assert len(receiver.requests) == 1


def test_the_docs_verification_example_accepts_a_real_delivery(make_endpoint, receiver):
    endpoint = make_endpoint(events=["member.created"])
    register()
    deliver()
    [request] = receiver.requests
    verify = docs_verify_function()

    assert verify(endpoint.secret, request.headers, request.body)
    # A wrong secret, a changed body, an old timestamp are refused
    assert not verify("another secret", request.headers, request.body)
    assert not verify(endpoint.secret, request.headers, request.body + b" ")
    later = int(request.headers["X-Regulars-Timestamp"]) + 301
    assert not verify(endpoint.secret, request.headers, request.body, now=later)


def test_the_secret_is_generated_and_random(make_endpoint):
    one, two = make_endpoint(), make_endpoint()
    assert len(one.secret) >= 40 and one.secret != two.secret


# --- Retries ----------------------------------------------------------------------


def test_failures_are_retried_on_the_backoff_schedule(make_endpoint, receiver):
    # Given an endpoint that answers 500
    make_endpoint(events=["member.created"])
    receiver.status = 500
    with time_machine.travel(T0, tick=False) as clock:
        register()
        assert deliver() == 1
        # Then it is tried again after 1 min, 5 min, 30 min, 2 h, 6 h, then
        # every 12 h — not a second earlier
        for wait in [60, 300, 1800, 7200, 21600, 43200, 43200]:
            last = timezone.now()
            d = Delivery.objects.get()
            assert d.status == "failed"
            assert d.next_attempt_at == last + timedelta(seconds=wait)
            clock.shift(wait - 1)
            assert deliver() == 0
            clock.shift(1)
            assert deliver() == 1
    attempts = list(Attempt.objects.order_by("at"))
    waits = [
        (b.at - a.at).total_seconds()
        for a, b in zip(attempts, attempts[1:], strict=False)
    ]
    assert waits == [60, 300, 1800, 7200, 21600, 43200, 43200]
    # And every attempt is logged, with the start of the answer
    assert {a.status_code for a in attempts} == {500}
    assert {a.error for a in attempts} == {"HTTP 500"}
    assert len(attempts[0].response_excerpt) == 1024
    # And every try carries the same event id
    assert len(receiver.requests) == 8
    assert len({r.json["id"] for r in receiver.requests}) == 1


def test_a_delivery_is_given_up_after_the_retry_window(
    make_endpoint, receiver, settings
):
    settings.WEBHOOKS_RETRY_FOR_HOURS = 1
    make_endpoint(events=["member.created"])
    receiver.status = 503
    with time_machine.travel(T0, tick=False) as clock:
        register()
        for _ in range(10):
            deliver()
            d = Delivery.objects.get()
            if d.next_attempt_at is None:
                break
            clock.move_to(d.next_attempt_at)
    # 0, +1 min, +6 min, +36 min; the next (+2 h 36 min) is past the hour
    assert (d.status, d.attempts) == ("gave_up", 4)
    assert Attempt.objects.count() == 4
    with time_machine.travel(T0, tick=False) as clock:
        clock.shift(timedelta(days=1))
        assert deliver() == 0


def test_a_timeout_is_a_failure_that_is_retried(make_endpoint, receiver, settings):
    settings.WEBHOOKS_TIMEOUT = 0.3
    make_endpoint(events=["member.created"])
    receiver.hang = True
    register()
    deliver()
    d = Delivery.objects.get()
    assert d.status == "failed" and d.last_status_code is None
    [attempt] = Attempt.objects.all()
    assert "Timeout" in attempt.error


def test_a_refused_connection_is_a_failure(make_endpoint):
    make_endpoint(events=["member.created"], url="http://127.0.0.1:9/nothing")
    register()
    deliver()
    d = Delivery.objects.get()
    assert d.status == "failed" and "ConnectionError" in d.last_error


def test_a_success_clears_the_failure_clock(make_endpoint, receiver):
    endpoint = make_endpoint(events=["member.created"])
    receiver.status = 500
    with time_machine.travel(T0, tick=False) as clock:
        register()
        deliver()
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None
        receiver.status = 200
        clock.shift(timedelta(minutes=1))
        deliver()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at is not None


# --- Disabling ----------------------------------------------------------------------


@pytest.fixture
def managers(staff_roles):
    users = get_user_model().objects
    group = Group.objects.get(name=roles.MANAGER)
    olga = users.create_user("olga", "olga@example.com", "x", is_staff=True)
    nomail = users.create_user("ivan", "", "x", is_staff=True)
    gone = users.create_user("gone", "gone@example.com", "x", is_staff=True)
    gone.is_active = False
    gone.save()
    desk = users.create_user("desk", "desk@example.com", "x", is_staff=True)
    desk.groups.add(Group.objects.get(name=roles.FRONT_DESK))
    for user in (olga, nomail, gone):
        user.groups.add(group)
    return olga


def test_an_endpoint_failing_for_days_is_disabled_and_managers_told(
    make_endpoint, receiver, managers, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(events=["member.created"])
    receiver.status = 500
    with time_machine.travel(T0, tick=False) as clock:
        register()
        deliver()
        # Not yet after 2 days 23 hours of failures
        clock.shift(timedelta(days=2, hours=23))
        with django_capture_on_commit_callbacks(execute=True):
            deliver()
        endpoint.refresh_from_db()
        assert endpoint.is_active
        # Three days after the first failure it is disabled
        clock.shift(timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=True):
            deliver()
        endpoint.refresh_from_db()
        assert not endpoint.is_active
        assert endpoint.disabled_at is not None
        assert "3 days" in endpoint.disabled_reason
        # Only active managers with an email are told, once
        [email] = mail.outbox
        assert email.to == ["olga@example.com"]
        assert endpoint.url in email.subject
        # Its deliveries wait, and nothing more is sent or emailed
        sent = len(receiver.requests)
        clock.shift(timedelta(hours=12))
        with django_capture_on_commit_callbacks(execute=True):
            deliver()
        assert len(receiver.requests) == sent
        assert len(mail.outbox) == 1
        # And new events are not recorded for it
        register(phone="+79161230002")
        assert Delivery.objects.count() == 1
        # Re-enabled, its waiting delivery goes out at once
        receiver.status = 200
        services.endpoint_enable(endpoint=endpoint)
        deliver()
    assert len(receiver.requests) == sent + 1
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_at is None


def test_the_manager_group_name_is_the_members_role():
    assert webhook_delivery.MANAGER_GROUP == roles.MANAGER


# --- Pruning and the command --------------------------------------------------------


def test_old_finished_deliveries_and_events_are_pruned(make_endpoint, receiver):
    make_endpoint(events=["member.created", "member.updated"])
    with time_machine.travel(T0, tick=False) as clock:
        register()  # delivered
        deliver()
        receiver.status = 500
        register(phone="+79161230002")  # still failing: kept
        deliver()
        clock.shift(timedelta(days=31))
        register(phone="+79161230003")  # recent: kept
        pruned = webhook_delivery.deliveries_prune()
    assert pruned == 1
    assert Delivery.objects.count() == 2
    assert Event.objects.count() == 2
    assert Attempt.objects.count() == 1


def test_deliver_webhooks_command(make_endpoint, receiver):
    make_endpoint(events=["member.created"])
    register()
    register(phone="+79161230002")
    out = StringIO()
    call_command("deliver_webhooks", "--once", stdout=out)
    assert "2 delivery(ies) attempted" in out.getvalue()
    assert len(receiver.requests) == 2


# --- Concurrency (PostgreSQL) ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has no row locks to race on",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_one_delivery_twice(receiver):
    endpoint = services.endpoint_save(
        endpoint=Endpoint(url=receiver.url, events=["member.created"])
    )
    for n in range(20):
        register(phone=f"+7916123{n:04d}")
    assert Delivery.objects.filter(endpoint=endpoint).count() == 20
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait()
            webhook_delivery.deliveries_deliver_due(limit=50)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [r.headers["X-Regulars-Delivery"] for r in receiver.requests]
    assert len(ids) == 20 and len(set(ids)) == 20
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert Attempt.objects.count() == 20


def test_a_replay_of_an_old_event_gets_its_own_retry_window(make_endpoint, receiver):
    make_endpoint(events=["member.created"])
    with time_machine.travel(T0, tick=False) as clock:
        register()
        deliver()
        clock.shift(timedelta(days=10))
        receiver.status = 500
        [replay] = services.deliveries_replay(deliveries=Delivery.objects.all())
        deliver()
        replay.refresh_from_db()
    assert (replay.status, replay.attempts) == ("failed", 1)


def test_ticking_active_again_resets_the_failure_clock(make_endpoint, receiver):
    endpoint = make_endpoint(events=["member.created"])
    receiver.status = 500
    with time_machine.travel(T0, tick=False) as clock:
        register()
        deliver()
        clock.shift(timedelta(days=3))
        deliver()
        endpoint.refresh_from_db()
        assert not endpoint.is_active
        endpoint.is_active = True
        services.endpoint_save(endpoint=endpoint)
        deliver()  # the waiting delivery goes, fails, and nothing is disabled
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_at is None
    assert endpoint.failing_since == Attempt.objects.last().at
