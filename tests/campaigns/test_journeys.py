"""Campaigns and journeys: enroll, split, send, cap, exit, re-run, catch up.

The clock is Tuesday 10 June 2025, 15:00 Moscow time (``conftest``); runs are
called with explicit times.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count

from campaigns.journeys import campaigns_run
from campaigns.models import (
    Arm,
    Campaign,
    CampaignSend,
    CampaignSettings,
    CampaignStep,
    Enrollment,
    PromoCode,
    Segment,
)
from members.models import Member, Message, MessageTemplate
from tests.campaigns.conftest import NOW
from tests.factories import MemberFactory
from tests.factories.campaigns import PromotionFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def templates(db):
    for channel in ("sms", "push", "email"):
        for language in ("en", "ru"):
            MessageTemplate.objects.create(
                key="winback", channel=channel, language=language,
                subject="We miss you", body="Hi {{ member.first_name }}! {{ code }}",
            )  # fmt: skip


def journey(trigger=Campaign.Trigger.NO_VISIT, days=42, steps=((0, ""),), **fields):
    fields.setdefault("control_percent", Decimal("10"))
    campaign = Campaign.objects.create(
        name=fields.pop("name", "Win-back"), kind=Campaign.Kind.JOURNEY,
        status=Campaign.Status.ACTIVE, trigger=trigger, trigger_days=days, **fields,
    )  # fmt: skip
    for position, (delay, offer) in enumerate(steps, start=1):
        CampaignStep.objects.create(
            campaign=campaign, position=position, delay_days=delay,
            template_key="winback", channels="push,sms", offer=offer,
        )  # fmt: skip
    return campaign


def lapsed(record_visit, n=1, *, days=42, **fields):
    """Members whose last visit was ``days`` days ago (at noon)."""
    fields.setdefault("consent_sms", True)
    out = []
    for _ in range(n):
        member = MemberFactory(**fields)
        at = (NOW - timedelta(days=days)).replace(hour=12, minute=0)
        record_visit(member, paid_at=at)
        out.append(member)
    return out


def test_a_win_back_enrolls_the_lapsed_and_sends_once(record_visit):
    journey(control_percent=Decimal("0"))
    due = lapsed(record_visit, 3)
    lapsed(record_visit, 1, days=20)  # came recently: not yet
    lapsed(record_visit, 1, days=60)  # lapsed long before the look-back

    first = campaigns_run(NOW)
    assert first.campaigns[0].enrolled == 3
    assert first.campaigns[0].sent == 3
    assert set(Enrollment.objects.values_list("member_id", flat=True)) == {
        m.pk for m in due
    }
    messages = Message.objects.filter(template_key="winback")
    assert messages.count() == 3
    assert set(messages.values_list("channel", flat=True)) == {"sms"}
    assert set(messages.values_list("kind", flat=True)) == {"marketing"}

    again = campaigns_run(NOW + timedelta(minutes=5))
    assert again.campaigns[0].enrolled == 0
    assert again.campaigns[0].sent == 0
    assert Message.objects.filter(template_key="winback").count() == 3
    assert Enrollment.objects.get(member=due[0]).status == Enrollment.Status.DONE


def test_no_message_without_consent(record_visit):
    journey(control_percent=Decimal("0"))
    lapsed(record_visit, 2, consent_sms=False)
    result = campaigns_run(NOW)
    assert result.campaigns[0].enrolled == 0
    assert not Message.objects.exists()


def test_the_control_group_gets_ghost_sends(record_visit):
    journey(control_percent=Decimal("50"))
    lapsed(record_visit, 40)
    campaigns_run(NOW)
    arms = dict(Enrollment.objects.values_list("arm").annotate(n=Count("pk")))
    assert arms[Arm.CONTROL] + arms[Arm.TREATMENT] == 40
    assert arms[Arm.CONTROL] > 5 and arms[Arm.TREATMENT] > 5
    ghosts = CampaignSend.objects.filter(status=CampaignSend.Status.GHOST)
    assert ghosts.count() == arms[Arm.CONTROL]
    assert not ghosts.filter(message__isnull=False).exists()
    assert Message.objects.count() == arms[Arm.TREATMENT]


def test_a_visit_ends_the_chain(record_visit, frozen_clock):
    journey(steps=((0, ""), (28, "")), control_percent=Decimal("0"))
    member, stays = lapsed(record_visit, 2)
    campaigns_run(NOW)
    frozen_clock.move_to(NOW + 2 * DAY)
    record_visit(member, paid_at=NOW + DAY)
    campaigns_run(NOW + 29 * DAY)
    assert Enrollment.objects.get(member=member).status == Enrollment.Status.EXITED
    assert Enrollment.objects.get(member=stays).status == Enrollment.Status.DONE
    assert CampaignSend.objects.filter(member=member).count() == 1
    assert CampaignSend.objects.filter(member=stays).count() == 2


def test_the_frequency_cap_holds_across_campaigns(record_visit):
    CampaignSettings.objects.create(frequency_cap=1)
    journey(name="One", control_percent=Decimal("0"))
    journey(name="Two", control_percent=Decimal("0"))
    lapsed(record_visit, 1, consent_push=False)
    campaigns_run(NOW)
    assert Message.objects.count() == 1  # the second campaign found the channel capped


def test_catch_up_after_downtime(record_visit):
    journey(control_percent=Decimal("0"), lookback_days=7)
    lapsed(record_visit, 1, days=45)  # its 42nd day passed 3 days ago
    assert campaigns_run(NOW).campaigns[0].enrolled == 1


def test_the_switch_pauses_everything(record_visit):
    CampaignSettings.objects.create(sending_paused=True)
    journey(control_percent=Decimal("0"))
    lapsed(record_visit, 1)
    assert campaigns_run(NOW).paused
    assert not Enrollment.objects.exists()


def test_a_personal_code_offer(record_visit):
    promotion = PromotionFactory(code_required=True, percent=Decimal("20"))
    campaign = journey(control_percent=Decimal("0"), steps=((0, "promotion"),))
    CampaignStep.objects.filter(campaign=campaign).update(promotion=promotion)
    (member,) = lapsed(record_visit, 1)
    campaigns_run(NOW)
    code = PromoCode.objects.get(member=member)
    assert code.max_uses == 1 and code.valid_until == NOW + 14 * DAY
    message = Message.objects.get(member=member)
    assert code.code in message.body


def test_a_one_off_to_a_segment(record_visit):
    segment = Segment.objects.create(
        name="Thrice", definition={"field": "visits_count", "cmp": "gte", "value": 1}
    )
    campaign = Campaign.objects.create(
        name="June news", kind=Campaign.Kind.ONE_OFF, status=Campaign.Status.ACTIVE,
        segment=segment, control_percent=Decimal("0"),
    )  # fmt: skip
    CampaignStep.objects.create(
        campaign=campaign, template_key="winback", channels="sms"
    )
    lapsed(record_visit, 2)
    MemberFactory(consent_sms=True)  # no visit: not in the segment
    campaigns_run(NOW)
    assert Message.objects.count() == 2
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ENDED


def test_a_scheduled_one_off_waits(record_visit):
    campaign = Campaign.objects.create(
        name="Later", kind=Campaign.Kind.ONE_OFF, status=Campaign.Status.ACTIVE,
        send_at=NOW + DAY, control_percent=Decimal("0"),
    )  # fmt: skip
    CampaignStep.objects.create(
        campaign=campaign, template_key="winback", channels="sms"
    )
    lapsed(record_visit, 1)
    campaigns_run(NOW)
    assert not Message.objects.exists()
    campaigns_run(NOW + DAY)
    assert Message.objects.count() == 1


def test_blocked_members_are_not_enrolled(record_visit):
    journey(control_percent=Decimal("0"))
    (member,) = lapsed(record_visit, 1)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)
    assert campaigns_run(NOW).campaigns[0].enrolled == 0


def test_the_birthday_trigger():
    journey(trigger=Campaign.Trigger.BIRTHDAY, days=7, control_percent=Decimal("0"))
    soon = MemberFactory(birthday=NOW.date() + 5 * DAY, consent_sms=True)
    MemberFactory(birthday=NOW.date() + 20 * DAY, consent_sms=True)
    campaigns_run(NOW)
    assert list(Enrollment.objects.values_list("member_id", flat=True)) == [soon.pk]
