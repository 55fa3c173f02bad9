"""The senders wired to the outbox: nightly points-expiring notices and the
"your reward is ready" message of a redemption."""

import importlib
from datetime import date, timedelta

import pytest
import time_machine
from django.apps import apps as django_apps

from members.messaging.tasks import message_deliver_task, messages_deliver_due_task
from members.models import Member, Message
from rewards.jobs import job_run
from rewards.models import ExpiryNotice
from rewards.services import batch, reward_redeem
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import (  # noqa: F401 - program_defaults is a fixture
    give_points,
    program_defaults,
    program_set,
)

T0 = moscow(2025, 1, 10, 12, 0)
D0 = date(2025, 1, 10)
Status = Message.Status


# The program's settings and tiers, also after a transactional test's flush.
pytestmark = pytest.mark.usefixtures("program_defaults")


@pytest.fixture(autouse=True)
def setup(db):
    migration = importlib.import_module("members.migrations.0004_message_templates")
    migration.add_templates(django_apps, None)
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(
        message_deliver_task,
        "apply_async",
        lambda args=(), countdown=None, **kw: calls.append(("deliver", args[0])),
    )
    monkeypatch.setattr(
        messages_deliver_due_task, "delay", lambda *a, **kw: calls.append(("sweep",))
    )
    return calls


def days(n: int) -> date:
    return D0 + timedelta(days=n)


def run(name: str, day: date, *, force: bool = False) -> dict:
    """Run one daily job as beat does: at 00:10 on ``day``."""
    with time_machine.travel(moscow(day.year, day.month, day.day, 0, 10), tick=False):
        outcome = job_run(name, day, force=force)
    assert outcome.status in {"done", "skipped"}, outcome
    return outcome.result


def expiring(member, points=130, *, lifetime_days=30):
    program_set(expiry_warning_days=14)
    give_points(member, points, lifetime_days=lifetime_days)


# --- Points expiring ----------------------------------------------------------


def test_each_queued_notice_becomes_messages_on_the_members_channels(
    member, django_capture_on_commit_callbacks, enqueued
):
    # Given a Russian member who opted into SMS only, with points expiring
    member.language = "ru"
    member.consent_sms = True
    member.consent_email = member.consent_push = False
    member.save()
    expiring(member)
    run("queue_expiry_notices", days(16))

    # When the notices are handed to the outbox
    with django_capture_on_commit_callbacks(execute=True):
        result = run("send_expiry_notices", days(16))

    # Then the in-app inbox and SMS each get one transactional message
    assert result == {"notices_sent": 1, "notices_skipped": 0, "messages": 2}
    messages = {m.channel: m for m in Message.objects.all()}
    assert set(messages) == {"in_app", "sms"}
    notice = ExpiryNotice.objects.get()
    assert notice.status == ExpiryNotice.Status.SENT
    sms = messages["sms"]
    assert (sms.kind, sms.status, sms.template_key) == (
        Message.Kind.TRANSACTIONAL,
        Status.QUEUED,
        "points_expiring",
    )
    assert sms.dedupe_key == f"expiry:{notice.pk}:sms"
    assert sms.body == (
        "Regulars: 9 февраля сгорят ваши баллы: 130. Потратьте их на следующем визите."
    )
    assert sms.context == {"points": 130, "expires_on": "2025-02-09"}
    # and one sweep delivers them after commit
    assert enqueued == [("sweep",)]


def test_the_notice_job_is_idempotent(member):
    expiring(member)
    run("queue_expiry_notices", days(16))
    run("send_expiry_notices", days(16))

    # A forced re-run for the same date, and a run for a later date, add nothing
    again = run("send_expiry_notices", days(16), force=True)
    later = run("send_expiry_notices", days(17))

    assert again["messages"] == later["messages"] == 0
    assert Message.objects.count() == 1  # in-app only: no consents


def test_a_notice_left_queued_by_a_crash_does_not_duplicate_its_messages(member):
    # Given a notice whose messages were queued but whose status was not saved
    expiring(member)
    run("queue_expiry_notices", days(16))
    run("send_expiry_notices", days(16))
    ExpiryNotice.objects.update(status=ExpiryNotice.Status.QUEUED)

    # When the job runs again
    result = run("send_expiry_notices", days(16), force=True)

    # Then the notice is marked sent and no second message is queued
    assert (result["notices_sent"], result["messages"]) == (1, 0)
    assert Message.objects.count() == 1


def test_stale_notices_and_inactive_members_are_skipped(member):
    blocked = MemberFactory(status=Member.Status.BLOCKED)
    program_set(expiry_warning_days=14)
    stale = ExpiryNotice.objects.create(member=member, expires_on=days(-1), points=5)
    of_blocked = ExpiryNotice.objects.create(
        member=blocked, expires_on=days(20), points=5
    )

    with time_machine.travel(moscow(2025, 1, 10, 0, 10), tick=False):
        result = run("send_expiry_notices", D0)

    assert result["notices_skipped"] == 2
    stale.refresh_from_db()
    of_blocked.refresh_from_db()
    assert {stale.status, of_blocked.status} == {ExpiryNotice.Status.SKIPPED}
    assert Message.objects.count() == 0


def test_many_notices_are_queued_in_a_few_statements(
    django_assert_max_num_queries,
):
    program_set(expiry_warning_days=14)
    members = [MemberFactory(consent_push=True) for _ in range(30)]
    ExpiryNotice.objects.bulk_create(
        ExpiryNotice(member=m, expires_on=days(14), points=10) for m in members
    )
    # Per chunk of notices: select, template lookups, one multi-row INSERT
    # (SQLite splits it by its bound-parameter limit), one UPDATE.
    with django_assert_max_num_queries(14):
        result = batch.expiry_notices_send(on=D0)

    assert result["messages"] == 60
    assert Message.objects.filter(channel="push").count() == 30


# --- Voucher issued -----------------------------------------------------------


def test_redeeming_a_reward_puts_a_message_in_the_inbox(
    member, django_capture_on_commit_callbacks, enqueued
):
    give_points(member, 500)
    reward = RewardFactory(name="Aroma oil", points_cost=100, voucher_valid_days=30)

    with django_capture_on_commit_callbacks(execute=True):
        voucher = reward_redeem(member=member, reward=reward, idempotency_key="k1")
        again = reward_redeem(member=member, reward=reward, idempotency_key="k1")

    assert again.pk == voucher.pk
    message = Message.objects.get()
    assert (message.channel, message.template_key, message.kind) == (
        "in_app",
        "voucher_issued",
        Message.Kind.TRANSACTIONAL,
    )
    assert message.dedupe_key == f"voucher_issued:{voucher.pk}"
    assert message.subject == "Your reward is ready"
    assert message.body == (
        f"Aroma oil is yours. Show the code {voucher.code} at the front desk "
        "by February 9, 2025."
    )
    assert enqueued == [("deliver", message.pk)]


def test_a_refused_redemption_sends_nothing(member):
    reward = RewardFactory(points_cost=100)

    with pytest.raises(Exception, match="Not enough points"):
        reward_redeem(member=member, reward=reward, idempotency_key="k1")

    assert Message.objects.count() == 0
