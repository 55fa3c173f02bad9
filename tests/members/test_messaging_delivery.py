"""Delivering the outbox: backends, retries with backoff, permanent failures,
the Celery tasks, the sweep and its command.

The webhook backend is exercised against a real HTTP server on 127.0.0.1 that
checks the signature the way a provider would; email goes through Django's
locmem backend (``mailoutbox``).
"""

import hashlib
import hmac
import importlib
import json
import smtplib
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection

from members.messaging import backends, rendering
from members.messaging.services import backoff, message_deliver, message_send
from members.messaging.tasks import message_deliver_task, messages_deliver_due_task
from members.models import Member, Message
from tests.conftest import moscow
from tests.members.test_concurrency import errors_of, race

Status = Message.Status
SECRET = "test-webhook-secret"
T0 = moscow(2025, 6, 2, 12, 0)


@pytest.fixture(autouse=True)
def templates(db):
    migration = importlib.import_module("members.migrations.0004_message_templates")
    migration.add_templates(django_apps, None)


# --- A webhook receiver -------------------------------------------------------


class Receiver:
    """What the test HTTP server saw, and what it answers next."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []  # popped in order; then 200
        self.delay = 0.0

    def answer(self, *statuses: int):
        self.answers.extend((s, {"error": "nope"}) for s in statuses)


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            timestamp = self.headers.get("X-Regulars-Timestamp", "")
            # Verify exactly as the backend's docstring tells a provider to
            expected = (
                "sha256="
                + hmac.new(
                    SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
                ).hexdigest()
            )
            signed = hmac.compare_digest(
                expected, self.headers.get("X-Regulars-Signature", "")
            )
            fresh = abs(time.time() - int(timestamp or 0)) < 300
            receiver.requests.append(
                {
                    "json": json.loads(raw),
                    "signed": signed,
                    "fresh": fresh,
                    "content_type": self.headers.get("Content-Type"),
                }
            )
            if receiver.delay:
                time.sleep(receiver.delay)  # a slow provider (the race test)
            if not signed:
                status, body = 401, {"error": "bad signature"}
            elif receiver.answers:
                status, body = receiver.answers.pop(0)
            else:
                status, body = 200, {"id": f"prov-{len(receiver.requests)}"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def webhook(settings):
    """A real HTTP receiver; SMS and push go to it through the webhook backend."""
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    settings.MESSAGE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    settings.MESSAGE_WEBHOOK_SECRET = SECRET
    settings.MESSAGE_WEBHOOK_TIMEOUT = 5.0
    settings.REGULARS_MESSAGE_BACKENDS = {
        **settings.REGULARS_MESSAGE_BACKENDS,
        "sms": "members.messaging.backends.WebhookBackend",
        "push": "members.messaging.backends.WebhookBackend",
    }
    yield receiver
    server.shutdown()
    server.server_close()


def sms(member, **kwargs):
    return message_send(
        channel="sms",
        template_key="otp_code",
        member=member,
        context={"code": "482913", "minutes": 5},
        **kwargs,
    )


def deliver(message):
    result = message_deliver(message_id=message.pk)
    message.refresh_from_db()
    return result


# --- Webhook ------------------------------------------------------------------


def test_the_webhook_receives_a_signed_json_message(member, webhook):
    message = sms(member)

    with time_machine.travel(T0, tick=False):
        result = deliver(message)

    # Then the receiver got one signed, fresh request with the message
    assert result.attempted
    (request,) = webhook.requests
    assert request["signed"] and request["fresh"]
    assert request["content_type"].startswith("application/json")
    assert request["json"] == {
        "id": message.pk,
        "channel": "sms",
        "to": member.phone.as_e164,
        "subject": "",
        "body": "Your Regulars code: 482913. It expires in 5 min.",
        "language": "en",
        "template": "otp_code",
        "member_id": member.pk,
    }
    # and the message is sent, with the provider's id
    assert (message.status, message.attempts, message.provider_id) == (
        Status.SENT,
        1,
        "prov-1",
    )
    assert message.sent_at == T0
    # and the sign-in code no longer sits in the outbox
    assert "482913" not in message.body
    assert rendering.MASK in message.body


def test_a_server_error_is_retried_after_backoff_then_sent(member, webhook):
    # Given a provider that fails twice with 500, then accepts
    webhook.answer(500, 503)
    message = sms(member)

    with time_machine.travel(T0, tick=False) as clock:
        # When the first attempt fails
        first = deliver(message)
        # Then the message waits 30 s, still queued, with the error recorded
        assert first.retry_at == T0 + timedelta(seconds=30)
        assert (message.status, message.attempts) == (Status.QUEUED, 1)
        assert message.next_attempt_at == T0 + timedelta(seconds=30)
        assert message.last_error.startswith("HTTP 500")
        assert "482913" in message.body  # still to be sent

        # and an early attempt does nothing
        clock.shift(timedelta(seconds=29))
        assert not deliver(message).attempted
        assert len(webhook.requests) == 1

        # When the backoff has passed, the second attempt fails too: 60 s more
        clock.shift(timedelta(seconds=1))
        second = deliver(message)
        assert second.retry_at == T0 + timedelta(seconds=30 + 60)
        assert message.last_error.startswith("HTTP 503")

        # and the third succeeds
        clock.shift(timedelta(seconds=60))
        deliver(message)

    assert (message.status, message.attempts, len(webhook.requests)) == (
        Status.SENT,
        3,
        3,
    )
    assert message.next_attempt_at is None
    assert message.last_error.startswith("HTTP 503")  # the history stays


@pytest.mark.parametrize("status", [408, 429, 502])
def test_timeouts_throttling_and_5xx_are_temporary(member, webhook, status):
    webhook.answer(status)
    message = sms(member)

    result = deliver(message)

    assert result.retry_at is not None
    assert message.status == Status.QUEUED


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_other_4xx_answers_fail_the_message_at_once(member, webhook, status):
    webhook.answer(status)
    message = sms(member)

    result = deliver(message)

    assert result.retry_at is None
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert message.last_error.startswith(f"HTTP {status}")
    assert "482913" not in message.body


def test_a_wrong_secret_is_refused_by_the_receiver_and_fails(member, webhook, settings):
    settings.MESSAGE_WEBHOOK_SECRET = "not-the-shared-secret"
    message = sms(member)

    deliver(message)

    assert webhook.requests[0]["signed"] is False
    assert (message.status, message.last_error[:8]) == (Status.FAILED, "HTTP 401")


def test_after_the_last_attempt_the_message_fails(member, webhook, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    webhook.answer(500, 500, 500, 500)
    message = sms(member)

    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(3):
            deliver(message)
            clock.shift(timedelta(hours=1))
        assert not deliver(message).attempted

    assert (message.status, message.attempts, len(webhook.requests)) == (
        Status.FAILED,
        3,
        3,
    )
    assert message.next_attempt_at is None


def test_a_refused_connection_is_temporary(member, webhook, settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.MESSAGE_WEBHOOK_URL = f"http://127.0.0.1:{port}/hook"
    message = sms(member)

    result = deliver(message)

    assert result.retry_at is not None
    assert message.status == Status.QUEUED
    assert "ConnectionError" in message.last_error


def test_no_webhook_url_fails_with_a_clear_error(member, webhook, settings):
    settings.MESSAGE_WEBHOOK_URL = ""
    message = sms(member)

    deliver(message)

    assert message.status == Status.FAILED
    assert "MESSAGE_WEBHOOK_URL is not set" in message.last_error


def test_backoff_doubles_and_is_capped_at_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [
        30,
        60,
        120,
        240,
        3600,
        3600,
    ]


def test_the_signature_helper_matches_the_documented_recipe():
    raw = b'{"id":1}'

    assert backends.signature("k", "1700000000", raw) == (
        "sha256=" + hmac.new(b"k", b"1700000000." + raw, hashlib.sha256).hexdigest()
    )


# --- Other backends -----------------------------------------------------------


def test_email_goes_through_djangos_email_backend(member, mailoutbox):
    message = message_send(
        channel="email",
        template_key="voucher_issued",
        member=member,
        context={"reward": "Tea", "code": "C0DE", "valid_until": None},
    )

    deliver(message)

    (email,) = mailoutbox
    assert email.to == [member.email]
    assert email.subject == "Your reward is ready: Tea"
    assert "Show the code C0DE at the front desk." in email.body
    assert email.extra_headers["X-Regulars-Message-Id"] == str(message.pk)
    assert message.status == Status.SENT
    assert message.provider_id == email.extra_headers["Message-ID"]


class FlakySmtp(BaseEmailBackend):
    """An SMTP server that hangs up (temporary) or refuses the mailbox (5xx)."""

    error: Exception = smtplib.SMTPServerDisconnected("bye")

    def send_messages(self, email_messages):
        raise type(self).error


class RefusingSmtp(FlakySmtp):
    error = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"no mailbox")})


@pytest.mark.parametrize(
    ("backend", "status"),
    [("FlakySmtp", Status.QUEUED), ("RefusingSmtp", Status.FAILED)],
)
def test_smtp_errors_are_retried_unless_the_mailbox_is_refused(
    member, settings, backend, status
):
    settings.EMAIL_BACKEND = f"{__name__}.{backend}"
    message = message_send(
        channel="email",
        template_key="voucher_issued",
        member=member,
        context={"reward": "Tea", "code": "C0DE", "valid_until": None},
    )

    deliver(message)

    assert message.status == status


def test_an_in_app_message_is_delivered_by_being_there(member):
    message = message_send(
        channel="in_app",
        template_key="voucher_issued",
        member=member,
        context={"reward": "Tea", "code": "C0DE", "valid_until": None},
    )

    deliver(message)

    assert (message.status, message.provider_id) == (Status.SENT, "")


def test_the_log_backend_logs_and_succeeds(member, caplog):
    message = sms(member)  # sms → LogBackend in the default settings

    with caplog.at_level("INFO", logger="members.messaging.backends"):
        deliver(message)

    assert message.status == Status.SENT
    assert "Your Regulars code" in caplog.text


class CrashingBackend(backends.BaseBackend):
    def send(self, message):
        raise RuntimeError("bug in a provider library")


def test_a_crashing_backend_is_retried_not_lost(member, settings):
    settings.REGULARS_MESSAGE_BACKENDS = {
        **settings.REGULARS_MESSAGE_BACKENDS,
        "sms": f"{__name__}.CrashingBackend",
    }
    message = sms(member)

    result = deliver(message)

    assert result.retry_at is not None
    assert message.last_error == "RuntimeError: bug in a provider library"


# --- What is (not) attempted --------------------------------------------------


def test_only_queued_messages_are_attempted(member, webhook):
    message = sms(member)
    deliver(message)

    assert not deliver(message).attempted
    assert len(webhook.requests) == 1


def test_a_deferred_marketing_message_is_checked_again_before_it_goes(member, settings):
    # Given a marketing SMS deferred by quiet hours
    settings.MESSAGE_QUIET_HOURS = "21:00-09:00"
    member.consent_sms = True
    member.save()
    with time_machine.travel(moscow(2025, 6, 2, 23, 0), tick=False):
        message = message_send(
            channel="sms",
            template_key="points_expiring",
            member=member,
            kind=Message.Kind.MARKETING,
            context={"points": 5, "expires_on": moscow(2025, 7, 1).date()},
        )
    # When the member withdraws consent overnight
    member.consent_sms = False
    member.save()

    # Then at 09:00 the message is skipped, not sent
    with time_machine.travel(moscow(2025, 6, 3, 9, 0), tick=False):
        result = deliver(message)

    assert not result.attempted
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "no_consent")


# --- Tasks, sweep and command -------------------------------------------------


@pytest.fixture
def requeued(monkeypatch):
    calls = []
    monkeypatch.setattr(
        message_deliver_task,
        "apply_async",
        lambda args=(), countdown=None, **kw: calls.append((args, countdown)),
    )
    return calls


def test_the_task_schedules_its_next_attempt_after_a_temporary_failure(
    member, webhook, requeued
):
    webhook.answer(500)
    message = sms(member)

    with time_machine.travel(T0, tick=False):
        assert message_deliver_task(message.pk) == Status.QUEUED

    assert requeued == [((message.pk,), 30.0)]


def test_the_task_does_not_reschedule_a_sent_or_failed_message(
    member, webhook, requeued
):
    webhook.answer(400)
    failed = sms(member)
    sent = sms(member)

    assert message_deliver_task(failed.pk) == Status.FAILED
    assert message_deliver_task(sent.pk) == Status.SENT
    assert message_deliver_task(10**9) == "missing"
    assert requeued == []


def test_sending_enqueues_the_task_after_commit(
    member, django_capture_on_commit_callbacks, requeued
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = sms(member)
        assert requeued == []

    for callback in callbacks:
        callback()
    assert requeued == [((message.pk,), None)]


def test_the_sweep_sends_what_is_due_and_leaves_the_rest(member, webhook, settings):
    settings.MESSAGE_QUIET_HOURS = "21:00-09:00"
    member.consent_sms = True
    member.save()
    with time_machine.travel(moscow(2025, 6, 2, 23, 0), tick=False):
        due = [sms(member) for _ in range(3)]
        deferred = message_send(
            channel="sms",
            template_key="points_expiring",
            member=member,
            kind=Message.Kind.MARKETING,
            context={"points": 5, "expires_on": moscow(2025, 7, 1).date()},
        )

        # When the minute sweep runs at night
        assert messages_deliver_due_task(batch=2) == 3

    # Then the due messages went out, the deferred one waits for 09:00
    statuses = dict(Message.objects.values_list("pk", "status"))
    assert [statuses[m.pk] for m in due] == [Status.SENT] * 3
    assert statuses[deferred.pk] == Status.QUEUED

    with time_machine.travel(moscow(2025, 6, 3, 9, 0, 30), tick=False):
        call_command("deliver_messages", "--limit", "10", stdout=StringIO())

    deferred.refresh_from_db()
    assert deferred.status == Status.SENT
    assert len(webhook.requests) == 4


def test_the_command_reports_what_it_did(member, capsys):
    sms(member)

    call_command("deliver_messages")

    assert "1 message(s) attempted" in capsys.readouterr().out


# --- Races (PostgreSQL) -------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has no row locks to race on",
)
@pytest.mark.django_db(transaction=True)
def test_many_workers_delivering_one_message_send_it_once(member, webhook):
    # Given a slow provider and eight workers given the same message at once
    webhook.delay = 0.3
    message = sms(member)

    outcomes = race(8, lambda _i: message_deliver(message_id=message.pk).attempted)

    # Then exactly one attempted it, the provider saw one request
    assert errors_of(outcomes) == []
    assert sorted(value for _kind, value in outcomes) == [False] * 7 + [True]
    assert len(webhook.requests) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SENT, 1)


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has no row locks to race on",
)
@pytest.mark.django_db(transaction=True)
def test_many_senders_with_one_dedupe_key_queue_one_message(member):
    outcomes = race(8, lambda _i: sms(member, dedupe_key="otp:race").pk)

    assert errors_of(outcomes) == []
    assert len({value for _kind, value in outcomes}) == 1
    assert Message.objects.filter(dedupe_key="otp:race").count() == 1


def test_a_member_erased_before_delivery_gets_nothing(member, webhook):
    message = sms(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)

    result = deliver(message)

    assert not result.attempted
    assert (message.status, message.skip_reason) == (Status.SKIPPED, "member_erased")
    assert webhook.requests == []
    assert "482913" not in message.body
