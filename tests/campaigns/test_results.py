"""Campaign results from the database (``campaigns.results``): the arms'
counts and revenue in the attribution window, the costs, ROI, and a query
count that does not grow with the members.

A hand-built dataset with a known answer: enrollments, their sends and
messages, visits with known times and amounts. Every exposure starts at S,
twenty days before the frozen clock; the window is (S, S + 14 days].
"""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import results
from campaigns.holdout import in_control
from campaigns.models import (
    Arm,
    Campaign,
    CampaignSend,
    CampaignSettings,
    CampaignStep,
    Enrollment,
    Redemption,
)
from members.models import Message, Visit
from rewards.models import Voucher
from rewards.services.vouchers import voucher_issue
from tests.campaigns.conftest import NOW
from tests.factories import MemberFactory, PromoCodeFactory, RewardFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
S = NOW - 20 * DAY  # every exposure's start


def make_campaign(name="Win-back", **fields):
    fields.setdefault("status", Campaign.Status.ACTIVE)
    campaign = Campaign.objects.create(
        name=name, kind=Campaign.Kind.JOURNEY, trigger=Campaign.Trigger.NO_VISIT,
        trigger_days=42, attribution_days=fields.pop("attribution_days", 14),
        **fields,
    )  # fmt: skip
    for position in (1, 2):
        CampaignStep.objects.create(
            campaign=campaign, position=position, template_key="winback"
        )
    return campaign


def enroll(campaign, arm, *, start=S, status=None, message=None, **send):
    """An enrollment with its first-step send written at ``start`` (``start=None``:
    no send yet). ``message``: the status of its message, if it has one."""
    member = MemberFactory()
    enrollment = Enrollment.objects.create(
        campaign=campaign, member=member, occurrence="x", arm=arm, bucket=0,
        trigger_at=S - DAY, status=Enrollment.Status.DONE,
    )  # fmt: skip
    if start is not None:
        step = campaign.steps.get(position=1)
        send_for(enrollment, step, start, status=status, message=message, **send)
    return enrollment


def send_for(enrollment, step, at, *, status=None, message=None, **fields):
    if status is None:
        status = (
            CampaignSend.Status.GHOST
            if enrollment.arm == Arm.CONTROL
            else CampaignSend.Status.QUEUED
        )
    if message is not None:
        fields["message"] = Message.objects.create(
            member=enrollment.member, channel="sms", template_key="winback",
            language="en", status=message,
        )  # fmt: skip
    return CampaignSend.objects.create(
        enrollment=enrollment, step=step, campaign=enrollment.campaign,
        member=enrollment.member, arm=enrollment.arm, status=status,
        channel="sms", created_at=at, **fields,
    )  # fmt: skip


@pytest.fixture
def visit(record_visit):
    """``visit(enrollment, at, paid, refunded=0)``: a paid visit of its member."""

    def make(enrollment, at, paid, refunded="0", status=Visit.Status.PAID):
        v = record_visit(enrollment.member, paid_at=at)
        Visit.objects.filter(pk=v.pk).update(
            amount_paid=D(paid), amount_refunded=D(refunded), status=status
        )
        return v

    return make


@pytest.fixture
def dataset(visit):
    CampaignSettings.objects.create(
        point_value=D("0.5"), message_cost=D("2.50"), gross_margin=D("60")
    )
    campaign = make_campaign()
    sms = Message.Status
    t1 = enroll(campaign, Arm.TREATMENT, message=sms.SENT)
    t2 = enroll(campaign, Arm.TREATMENT, message=sms.QUEUED)
    t3 = enroll(campaign, Arm.TREATMENT, message=sms.FAILED, points=100)
    t4 = enroll(campaign, Arm.TREATMENT, status=CampaignSend.Status.NO_CHANNEL)
    enroll(campaign, Arm.TREATMENT, start=None)  # no first send yet: left out
    c1, c2, _c3 = (enroll(campaign, Arm.CONTROL) for _ in range(3))
    # t1's second step: one more message, delivered; not a second exposure.
    send_for(t1, campaign.steps.get(position=2), S + 3 * DAY, message=sms.SENT)

    v1 = visit(t1, S + DAY, "3000")  # in: 3000
    v2 = visit(t2, S + 14 * DAY, "1000")  # the window's last instant, in: 1000
    visit(t2, S + 14 * DAY + timedelta(seconds=1), "2500")  # just after: out
    visit(t3, S, "2000")  # at the start itself: out
    visit(t4, S + 2 * DAY, "2000", refunded="500")  # in: 2000 − 500 = 1500
    visit(c1, S + 3 * DAY, "2000")  # in: 2000
    visit(c2, S - DAY, "2000")  # before: out
    visit(c2, S + 4 * DAY, "900", status=Visit.Status.CANCELLED)  # not paid: out

    # Offers: t1's personal code used, t2's voucher used, t3's code unused.
    code = PromoCodeFactory(member=t1.member, uses=1, max_uses=1)
    CampaignSend.objects.filter(enrollment=t1, step__position=1).update(code=code)
    unused = PromoCodeFactory(member=t3.member, promotion=code.promotion, max_uses=1)
    CampaignSend.objects.filter(enrollment=t3).update(code=unused)
    voucher = voucher_issue(
        member=t2.member, reward=RewardFactory(points_cost=400), key="t2",
        source=Voucher.Source.CAMPAIGN,
    )  # fmt: skip
    Voucher.objects.filter(pk=voucher.pk).update(status=Voucher.Status.USED)
    CampaignSend.objects.filter(enrollment=t2).update(voucher=voucher)
    # The code's discounts: 300 with 50 given back by a partial refund counts
    # 250; a reversed one and another code's do not count.
    redeem = dict(promotion=code.promotion, visit=v1, member=t1.member)
    Redemption.objects.create(
        **redeem, code=code, money=D("300"), money_refunded=D("50")
    )
    redeem["visit"] = v2  # one redemption per visit and promotion
    Redemption.objects.create(**redeem, code=code, money=D("100"), reversed_at=NOW)
    other = PromoCodeFactory()
    Redemption.objects.create(
        **redeem | {"promotion": other.promotion}, code=other, money=D("999")
    )
    return campaign


def test_the_arms_of_a_known_dataset(dataset):
    treatment, control, costs = results.campaign_arms(dataset)

    # Treatment: t1..t4 (the fifth has no send yet). Converted: t1, t2, t4.
    # Revenue: 3000, 1000, 0, 1500 → Σ 5500, Σ² 9e6 + 1e6 + 0 + 2.25e6.
    # Sends with a message: t1 ×2, t2, t3 → 4; delivered: t1's two → 2.
    # Redeemed: t1 (code used) and t2 (voucher used).
    assert treatment.targeted == 4
    assert treatment.converted == 3
    assert treatment.sent == 4
    assert treatment.delivered == 2
    assert treatment.redeemed == 2
    assert treatment.revenue_total == D("5500.00")
    assert treatment.revenue_sum_squares == D("12250000")

    # Control: three ghosts, counted like the treatment; c1 converted, 2000.
    assert control.targeted == 3
    assert control.converted == 1
    assert (control.sent, control.delivered, control.redeemed) == (0, 0, 0)
    assert control.revenue_total == D("2000.00")
    assert control.revenue_sum_squares == D("4000000")

    # Discounts 250; points 100 × 0.5 = 50; the voucher 400 × 0.5 = 200;
    # messages 4 × 2.50 = 10 → 510.
    assert costs == results.Costs(
        discounts=D("250.00"),
        points=D("50.00"),
        vouchers=D("200.00"),
        messages=D("10.00"),
    )
    assert costs.total == D("510.00")


def test_the_result_and_its_roi(dataset):
    result = results.campaign_result_for(dataset)
    # rpm: 5500 / 4 = 1375 against 2000 / 3 = 666.67 → +708.33 a member;
    # incremental revenue 708.333… × 4 = 2833.33; profit × 0.60 = 1700.00;
    # ROI 1700 / 510 = 3.3333.
    assert result.treatment.revenue_per_member == D("1375.00")
    assert result.control.revenue_per_member == D("666.67")
    assert result.revenue_diff == D("708.33")
    assert result.incremental_revenue == D("2833.33")
    assert result.incremental_profit == D("1700.00")
    assert result.cost == D("510.00")
    assert result.roi == D("3.3333")
    assert result.uplift == D("0.4167")  # 3/4 − 1/3
    assert not result.enough_data
    assert str(result.reason) == (
        "Not enough data yet: each group needs at least 100 members."
    )


def test_the_window_follows_the_campaigns_attribution_days(dataset):
    Campaign.objects.filter(pk=dataset.pk).update(attribution_days=1)
    dataset.refresh_from_db()
    treatment, control, _costs = results.campaign_arms(dataset)
    # Only t1's visit (S + 1 day, the window's end) is left.
    assert (treatment.converted, treatment.revenue_total) == (1, D("3000.00"))
    assert (control.converted, control.revenue_total) == (0, D("0"))


def test_now_cuts_what_happened_later(dataset):
    treatment, control, _costs = results.campaign_arms(dataset, now=S + 2 * DAY)
    # By then: t1's visit (S + 1 day) and t4's (S + 2 days, 1500).
    assert (treatment.converted, treatment.revenue_total) == (2, D("4500.00"))
    assert treatment.sent == 3  # t1's second step came on day 3
    assert (control.converted, control.targeted) == (0, 3)


def test_several_campaigns_at_once_with_their_own_windows(dataset, visit):
    other = make_campaign(name="Birthday", attribution_days=30)
    member = enroll(other, Arm.TREATMENT)
    visit(member, S + 19 * DAY, "700")  # day 19: in a 30-day window, not 14
    enroll(other, Arm.CONTROL)
    by_id = results.arms_for([dataset, other])
    assert by_id[dataset.pk][0].revenue_total == D("5500.00")
    assert by_id[other.pk][0].revenue_total == D("700.00")
    assert by_id[other.pk][1].targeted == 1


def test_no_enrollments_no_result(dataset):
    make_campaign(name="Never ran")
    rows, program = results.program_results()
    assert [c.name for c, _r in rows] == ["Win-back"]
    assert program.campaigns == 1
    assert program.cost == D("510.00")
    assert program.incremental_profit == D("1700.00")
    assert program.roi == D("3.3333")


def test_an_empty_campaign_counts_zero():
    campaign = make_campaign(name="Empty")
    treatment, control, costs = results.campaign_arms(campaign)
    assert treatment.targeted == control.targeted == 0
    assert costs.total == D("0.00")
    assert results.program_results()[0] == []


@pytest.mark.parametrize("members", [2, 12])
def test_the_query_count_does_not_grow_with_the_members(members, visit):
    campaign = make_campaign()
    for i in range(members):
        enrollment = enroll(campaign, Arm.CONTROL if i % 2 else Arm.TREATMENT)
        visit(enrollment, S + DAY, "1000")
    config = CampaignSettings.current()
    with CaptureQueriesContext(connection) as queries:
        treatment, control, _ = results.campaign_arms(campaign, config=config)
    assert len(queries) == 3
    assert treatment.targeted + control.targeted == members
    assert treatment.converted + control.converted == members
    with CaptureQueriesContext(connection) as queries:
        results.program_results()
    assert len(queries) == 5  # campaigns, settings, arms, sends, discounts


def test_the_program_holdout_compares_reached_and_held_out_members(record_visit):
    config = CampaignSettings.objects.create(program_control_percent=D("50"))
    assert results.program_holdout(config=config) is not None
    members = [MemberFactory() for _ in range(12)]
    control = [m for m in members if in_control(config.program_salt, m.pk, 50)]
    reached = [m for m in members if m not in control]
    for member in reached[:2]:
        record_visit(member)  # 3,000.00 each
    result = results.program_holdout(config=config).result
    assert result.control.targeted == len(control)
    assert result.treatment.targeted == len(reached)
    assert result.treatment.converted == 2 and result.control.converted == 0
    assert result.treatment.revenue_total == D("6000.00")

    CampaignSettings.objects.filter(pk=config.pk).update(program_control_percent=0)
    assert results.program_holdout(config=CampaignSettings.current()) is None
