"""The retention purge: what is kept only for a while goes after its period
(a second run finds nothing), what is still needed stays."""

import io
from datetime import date, timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.core.management import CommandError, call_command

from config.celery import BEAT_SCHEDULE
from core.retention import retention_purge
from members import access
from members.models import Member, MemberToken, Message, OtpChallenge, OtpGuard
from members.privacy import member_erase
from rewards.models import JobRun
from tests.conftest import moscow
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOW = moscow(2026, 6, 1, 4, 50)


def ago(days: int):
    return NOW - timedelta(days=days)


def message(status, created_at, member=None) -> Message:
    return Message.objects.create(
        member=member,
        channel="sms",
        recipient="+79161234567",
        template_key="test",
        language="en",
        status=status,
        created_at=created_at,
    )


@pytest.fixture
def records():
    old_code = OtpChallenge.objects.create(
        phone="+79035550001", code_hash="x", created_at=ago(31), expires_at=ago(31)
    )
    new_code = OtpChallenge.objects.create(
        phone="+79035550002", code_hash="x", created_at=ago(29), expires_at=ago(29)
    )
    OtpGuard.objects.create(phone="+79035550001", failures=3)
    OtpGuard.objects.create(
        phone="+79035550003", failures=10, locked_until=NOW + timedelta(hours=1)
    )
    OtpGuard.objects.filter(phone__in=["+79035550001", "+79035550003"]).update(
        updated_at=ago(40)
    )
    sent_old = message(Message.Status.SENT, ago(366))
    failed_old = message(Message.Status.FAILED, ago(400))
    queued_old = message(Message.Status.QUEUED, ago(400))
    sent_new = message(Message.Status.SENT, ago(300))
    erased = MemberFactory()
    access.token_issue(member=erased)
    erased_message = message(Message.Status.SENT, ago(1), member=erased)
    member_erase(member=erased)
    kept_member = MemberFactory()
    access.token_issue(member=kept_member)
    for day in (date(2025, 1, 1), date(2025, 1, 2)):
        JobRun.objects.create(
            job="lots_expire", business_date=day, status=JobRun.Status.DONE,
            started_at=moscow(day.year, day.month, day.day, 0, 10),
        )  # fmt: skip
    JobRun.objects.create(
        job="tiers_review", business_date=date(2026, 5, 31),
        status=JobRun.Status.DONE, started_at=ago(1),
    )  # fmt: skip
    AccessLog.objects.create(username="olga", ip_address="10.0.0.1", user_agent="x")
    AccessLog.objects.update(attempt_time=ago(400))
    AccessAttempt.objects.create(
        username="ivan", ip_address="10.0.0.2", user_agent="x", failures_since_start=2
    )
    AccessAttempt.objects.update(attempt_time=ago(400))
    return {
        "old_code": old_code,
        "new_code": new_code,
        "kept_messages": {queued_old.pk, sent_new.pk},
        "gone_messages": {sent_old.pk, failed_old.pk, erased_message.pk},
        "erased": erased,
        "kept_member": kept_member,
    }


def test_the_purge_deletes_what_is_past_its_period(records):
    counts = retention_purge(now=NOW)

    assert counts == {
        "staff_sign_ins": 1,
        "staff_sign_in_failures": 1,
        "sign_in_codes": 1,
        "sign_in_counters": 1,
        "messages": 2,
        "erased_members_messages": 1,
        "erased_members_tokens": 1,
        "job_runs": 1,
    }
    assert list(OtpChallenge.objects.values_list("pk", flat=True)) == [
        records["new_code"].pk
    ]
    # the lock still in force stays, whatever its age
    assert list(OtpGuard.objects.values_list("phone", flat=True)) == ["+79035550003"]
    assert set(Message.objects.values_list("pk", flat=True)) == records["kept_messages"]
    assert not MemberToken.objects.filter(member=records["erased"]).exists()
    assert MemberToken.objects.filter(member=records["kept_member"]).exists()
    # the erased member's row (with the phone's salted hash) stays
    erased = Member.objects.get(pk=records["erased"].pk)
    assert erased.status == Member.Status.ERASED and erased.erased_phone_hash
    # each job's latest run stays: the catch-up counts from it
    assert sorted(JobRun.objects.values_list("business_date", flat=True)) == [
        date(2025, 1, 2),
        date(2026, 5, 31),
    ]
    # and a second run finds nothing
    assert set(retention_purge(now=NOW).values()) == {0}


def test_the_command_purges_as_of_a_date_with_progress(records):
    out = io.StringIO()
    call_command("retention_purge", "--date", "2026-05-31", stdout=out)
    text = out.getvalue()
    assert "sign_in_codes: 1" in text and "Done" in text
    assert not OtpChallenge.objects.filter(pk=records["old_code"].pk).exists()
    with pytest.raises(CommandError, match="Not a date"):
        call_command("retention_purge", "--date", "yesterday")


def test_beat_runs_it_nightly():
    entry = BEAT_SCHEDULE["core: purge expired records"]
    assert entry["task"] == "core.tasks.retention_purge_task"
