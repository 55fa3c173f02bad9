"""Backtests: a constructed history per trigger with a known answer per month,
the forward run replayed day by day over the same history, a promotion with a
budget that runs out, the query count, the command and the admin page.

The clock is Tuesday 10 June 2025, 15:00 Moscow time (``conftest``).
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.backtest import campaign_backtest
from campaigns.backtest_promotions import promotion_backtest
from campaigns.journeys import campaigns_run
from campaigns.models import (
    Campaign,
    CampaignSettings,
    CampaignStep,
    Enrollment,
    Promotion,
    Segment,
)
from members.models import MessageTemplate
from rewards.models import PointLot
from tests.campaigns.conftest import NOW
from tests.conftest import moscow
from tests.factories import MemberFactory
from tests.factories.campaigns import PromotionFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
JAN, FEB, MAR, APR, MAY, JUN = (date(2025, m, 1) for m in range(1, 7))


@pytest.fixture(autouse=True)
def templates(db):
    for channel in ("sms", "push", "email"):
        MessageTemplate.objects.create(
            key="t", channel=channel, language="en", subject="s", body="b"
        )


def journey(trigger, days=None, steps=((0, "", None),), **fields):
    fields.setdefault("control_percent", Decimal("0"))
    fields.setdefault("status", Campaign.Status.DRAFT)
    campaign = Campaign.objects.create(
        name=fields.pop("name", "Draft"), kind=Campaign.Kind.JOURNEY,
        trigger=trigger, trigger_days=days, **fields,
    )  # fmt: skip
    for position, (delay, offer, extra) in enumerate(steps, start=1):
        CampaignStep.objects.create(
            campaign=campaign, position=position, delay_days=delay,
            template_key="t", channels="push,sms", offer=offer, **(extra or {}),
        )  # fmt: skip
    return campaign


def per_month(result, field="occurrences") -> dict[date, int]:
    return {row.month: getattr(row, field) for row in result.rows}


def member(**fields):
    fields.setdefault("consent_sms", True)
    return MemberFactory(**fields)


def noon(day: date):
    return moscow(day.year, day.month, day.day, 12, 0)


# --- each trigger ------------------------------------------------------------------


def test_no_visit(record_visit):
    campaign = journey(Campaign.Trigger.NO_VISIT, 30)
    a = member()
    record_visit(a, paid_at=noon(date(2025, 1, 5)))  # → Feb 4
    record_visit(a, paid_at=noon(date(2025, 3, 1)))  # next within 30 → no
    record_visit(a, paid_at=noon(date(2025, 3, 20)))  # → Apr 19
    b = member()
    record_visit(b, paid_at=noon(date(2025, 5, 20)))  # → Jun 19: after today
    c = member(consent_sms=False)  # no consent: not counted
    record_visit(c, paid_at=noon(date(2025, 1, 5)))
    d = member()
    record_visit(d, paid_at=noon(date(2024, 12, 1)))  # → Dec 31: before the window
    result = campaign_backtest(campaign, months=6)
    assert [row.month for row in result.rows] == [JAN, FEB, MAR, APR, MAY, JUN]
    assert per_month(result) == {JAN: 0, FEB: 1, MAR: 0, APR: 1, MAY: 0, JUN: 0}
    assert result.total.occurrences == 2 and result.total.members == 1
    assert result.total.messages == 2


def test_visit_of_categories(record_visit, lines_of):
    campaign = journey(Campaign.Trigger.VISIT)
    campaign.trigger_categories.add(lines_of("facial")[0].service.category)
    a, b = member(), member()
    record_visit(a, paid_at=noon(date(2025, 2, 3)), lines=lines_of("facial"))
    record_visit(a, paid_at=noon(date(2025, 2, 9)), lines=lines_of("facial", "aroma"))
    record_visit(b, paid_at=noon(date(2025, 5, 9)), lines=lines_of("facial"))
    record_visit(b, paid_at=noon(date(2025, 5, 10)), lines=lines_of("massage"))
    result = campaign_backtest(campaign, months=6)
    assert per_month(result) == {JAN: 0, FEB: 2, MAR: 0, APR: 0, MAY: 1, JUN: 0}
    assert per_month(result, "members") == {
        JAN: 0, FEB: 1, MAR: 0, APR: 0, MAY: 1, JUN: 0,
    }  # fmt: skip
    assert result.total.members == 2


def test_signed_up(record_visit):
    campaign = journey(Campaign.Trigger.SIGNED_UP, 7)
    member(registered_at=noon(date(2025, 3, 28)))  # → Apr 4, never visited
    came = member(registered_at=noon(date(2025, 3, 28)))
    record_visit(came, paid_at=noon(date(2025, 4, 1)))  # came within 7 days
    late = member(registered_at=noon(date(2025, 4, 28)))  # → May 5; came May 20
    record_visit(late, paid_at=noon(date(2025, 5, 20)))
    member(registered_at=noon(date(2025, 6, 8)))  # → Jun 15: not yet
    result = campaign_backtest(campaign, months=3)
    assert per_month(result) == {APR: 1, MAY: 1, JUN: 0}


def test_birthday():
    campaign = journey(Campaign.Trigger.BIRTHDAY, 7)
    member(birthday=date(1990, 3, 5))  # → Feb 26
    member(birthday=date(1985, 3, 10))  # → Mar 3
    member(birthday=date(1992, 2, 29))  # → Feb 21 (the 28th this year)
    member(birthday=date(1990, 6, 20))  # → Jun 13: after today
    member(birthday=date(1990, 1, 3))  # → Dec 27 2024: before the window
    result = campaign_backtest(campaign, months=6)
    assert per_month(result) == {JAN: 0, FEB: 2, MAR: 1, APR: 0, MAY: 0, JUN: 0}
    # Over 24 months the same members qualify once a year.
    long = campaign_backtest(campaign, months=24)
    # Dec 27, Feb 21/22, Feb 26, Mar 3 each year, and 13 June 2024.
    assert long.total.occurrences == 9
    assert long.total.members == 5


def test_anniversary(record_visit):
    campaign = journey(Campaign.Trigger.ANNIVERSARY)
    a = member()
    record_visit(a, paid_at=noon(date(2024, 3, 15)))  # → 15 Mar 2025
    b = member()
    record_visit(b, paid_at=noon(date(2025, 2, 1)))  # its first year: none
    result = campaign_backtest(campaign, months=6)
    assert per_month(result) == {JAN: 0, FEB: 0, MAR: 1, APR: 0, MAY: 0, JUN: 0}


def test_points_expiring(record_visit):
    campaign = journey(Campaign.Trigger.POINTS_EXPIRING, 10)
    a = member()
    record_visit(a, paid_at=noon(date(2025, 1, 5)))
    entry = PointLot.objects.filter(member=a).first().entry
    lot = {"member": a, "entry": entry}
    PointLot.objects.filter(member=a).delete()
    PointLot.objects.create(
        **lot, amount=100, remaining=0, expired=100, expires_on=date(2025, 3, 5)
    )  # expired → Feb 23
    PointLot.objects.create(
        **lot, amount=100, remaining=0, expired=0, expires_on=date(2025, 4, 5)
    )  # spent → not counted
    PointLot.objects.create(
        **lot, amount=100, remaining=40, expired=0, expires_on=date(2025, 6, 15)
    )  # → Jun 5
    PointLot.objects.create(
        **lot, amount=100, remaining=40, expired=0, expires_on=date(2025, 7, 15)
    )  # → Jul 5: not yet
    result = campaign_backtest(campaign, months=6)
    assert per_month(result) == {JAN: 0, FEB: 1, MAR: 0, APR: 0, MAY: 0, JUN: 1}


def test_tier_at_risk_is_a_note():
    result = campaign_backtest(journey(Campaign.Trigger.TIER_AT_RISK), months=6)
    assert result.rows == [] and result.total.occurrences == 0
    assert any("Tier at risk" in note for note in result.notes)


def test_a_one_off_is_the_audience_today(record_visit):
    segment = Segment.objects.create(
        name="Visited", definition={"field": "visits_count", "cmp": "gte", "value": 1}
    )
    campaign = Campaign.objects.create(
        name="News", kind=Campaign.Kind.ONE_OFF, segment=segment,
        control_percent=Decimal("0"),
    )  # fmt: skip
    CampaignStep.objects.create(campaign=campaign, template_key="t", channels="sms")
    for _ in range(3):
        record_visit(member(), paid_at=noon(date(2025, 5, 1)))
    member()  # no visit: not in the segment
    result = campaign_backtest(campaign, months=6)
    assert [(r.month, r.occurrences) for r in result.rows] == [(JUN, 3)]


def test_costs_and_the_control_group(record_visit, lines_of):
    CampaignSettings.objects.create(
        message_cost=Decimal("2.00"), point_value=Decimal("0.5")
    )
    promotion = PromotionFactory(code_required=True, percent=Decimal("10"))
    campaign = journey(
        Campaign.Trigger.VISIT,
        steps=(
            (0, "points", {"points": 100}),
            (0, "promotion", {"promotion": promotion}),
        ),
        control_percent=Decimal("50"),
    )
    a = member()
    record_visit(a, paid_at=noon(date(2025, 5, 2)), lines=lines_of("massage"))  # 3000
    record_visit(a, paid_at=noon(date(2025, 5, 3)), lines=lines_of("manicure"))  # 1000
    result = campaign_backtest(campaign, months=1 + 1)
    may = per_month(result, "money")[MAY]
    # 2 occurrences × 50 % treated = 1: 2 messages (4.00), 100 points (50.00),
    # and 10 % of the average visit (2000 × 2 occurrences × 50 % → 200.00).
    assert per_month(result, "messages")[MAY] == 2
    assert per_month(result, "points")[MAY] == 100
    assert may == Decimal("254.00")


def test_one_running_enrollment_per_member(record_visit):
    # Two steps 30 days apart, a 7-day catch-up: an occurrence within
    # 30 - 7 + 1 = 24 days of the member's previous one is turned away.
    campaign = journey(
        Campaign.Trigger.POINTS_EXPIRING, 0, steps=((0, "", None), (30, "", None))
    )
    a = member()
    record_visit(a, paid_at=noon(date(2025, 1, 5)))
    entry = PointLot.objects.filter(member=a).first().entry
    PointLot.objects.filter(member=a).delete()
    for day in (date(2025, 3, 10), date(2025, 3, 20), date(2025, 5, 30)):
        PointLot.objects.create(
            member=a, entry=entry, amount=10, remaining=10, expires_on=day
        )
    result = campaign_backtest(campaign, months=6)
    assert per_month(result) == {JAN: 0, FEB: 0, MAR: 1, APR: 0, MAY: 1, JUN: 0}
    assert result.total.messages == 4


# --- the forward run over the same history ----------------------------------------


def _history(record_visit, lines_of):
    """Visits at noon of (member index, date, service)."""
    spec = [
        (0, date(2025, 1, 3), "massage"),
        (0, date(2025, 1, 20), "facial"),  # within 21 days of the one before
        (0, date(2025, 3, 2), "facial"),
        (1, date(2025, 1, 30), "manicure"),
        (1, date(2025, 4, 28), "facial"),
        (2, date(2025, 2, 14), "massage"),
        (2, date(2025, 2, 27), "facial"),
        (3, date(2025, 3, 31), "facial"),
        (3, date(2025, 5, 25), "aroma"),
        (4, date(2025, 5, 1), "facial"),
    ]
    members = [member(registered_at=noon(date(2024, 12, 1))) for _ in range(5)]
    return [(members[i], day, lines_of(name)) for i, day, name in spec]


@pytest.mark.parametrize(
    "trigger,days", [(Campaign.Trigger.NO_VISIT, 21), (Campaign.Trigger.VISIT, None)]
)
def test_the_backtest_equals_the_forward_run(
    trigger, days, record_visit, lines_of, frozen_clock, face
):
    history = _history(record_visit, lines_of)
    campaign = journey(trigger, days)
    if trigger == Campaign.Trigger.VISIT:
        campaign.trigger_categories.add(face)
    # Forward: each day at 15:00, the day's visits recorded, then a run.
    start, today = date(2025, 1, 1), NOW.date()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)
    day = start
    while day <= today:
        at = moscow(day.year, day.month, day.day, 15, 0)
        frozen_clock.move_to(at)
        for who, on, lines in history:
            if on == day:
                record_visit(who, paid_at=noon(on), lines=lines)
        campaigns_run(at)
        day += DAY
    frozen_clock.move_to(NOW)
    forward = dict(
        Enrollment.objects.filter(campaign=campaign)
        .annotate(m=TruncMonth("enrolled_at", tzinfo=timezone.get_current_timezone()))
        .values_list("m")
        .annotate(n=Count("pk"))
    )
    forward = {m.date(): n for m, n in forward.items()}
    result = campaign_backtest(campaign, months=6)
    backtest = {m: n for m, n in per_month(result).items() if n}
    assert backtest == forward
    assert sum(forward.values()) >= 3


# --- a promotion -----------------------------------------------------------------


def test_a_promotion_with_a_budget_that_runs_out(record_visit, lines_of, face):
    promotion = PromotionFactory(
        effect=Promotion.Effect.PERCENT_LINES, percent=Decimal("10"),
        budget_money=Decimal("500.00"), status=Promotion.Status.DRAFT,
    )  # fmt: skip
    promotion.categories.add(face)
    a, b = member(), member()
    record_visit(a, paid_at=noon(date(2025, 3, 3)), lines=lines_of("facial"))  # 200
    record_visit(a, paid_at=noon(date(2025, 3, 4)), lines=lines_of("massage"))  # no
    record_visit(b, paid_at=noon(date(2025, 4, 4)), lines=lines_of("facial"))  # 200
    record_visit(a, paid_at=noon(date(2025, 5, 5)), lines=lines_of("facial"))  # 100
    record_visit(b, paid_at=noon(date(2025, 5, 6)), lines=lines_of("facial"))  # 0
    result = promotion_backtest(promotion, months=4)
    assert per_month(result) == {MAR: 1, APR: 1, MAY: 1, JUN: 0}
    assert per_month(result, "money") == {
        MAR: Decimal("200.00"), APR: Decimal("200.00"), MAY: Decimal("100.00"),
        JUN: Decimal("0.00"),
    }  # fmt: skip
    assert result.total.money == Decimal("500.00")
    assert result.total.members == 2
    assert any("05.05.2025" in note for note in result.notes)


def test_promotion_conditions_and_limits(record_visit, lines_of):
    promotion = PromotionFactory(
        effect=Promotion.Effect.PERCENT_BILL, percent=Decimal("20"),
        weekdays="12345", time_from=None, uses_per_member=1,
        status=Promotion.Status.DRAFT, min_bill=Decimal("1500"),
    )  # fmt: skip
    a = member()
    record_visit(a, paid_at=noon(date(2025, 5, 5)), lines=lines_of("massage"))  # Mon
    record_visit(a, paid_at=noon(date(2025, 5, 6)), lines=lines_of("massage"))  # 2nd
    record_visit(member(), paid_at=noon(date(2025, 5, 10)), lines=lines_of("massage"))
    record_visit(member(), paid_at=noon(date(2025, 5, 7)), lines=lines_of("manicure"))
    result = promotion_backtest(promotion, months=1)
    assert per_month(result) == {JUN: 0}
    result = promotion_backtest(promotion, months=2)
    assert per_month(result) == {MAY: 1, JUN: 0}
    assert result.total.money == Decimal("600.00")


# --- the query count, the command, the page -------------------------------------


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "trigger", [Campaign.Trigger.NO_VISIT, Campaign.Trigger.BIRTHDAY]
)
def test_the_query_count_does_not_grow_with_the_data(trigger, record_visit):
    campaign = journey(trigger, 14)
    promotion = PromotionFactory(percent=Decimal("10"), budget_money=Decimal("100"))

    def both():
        campaign_backtest(campaign, months=6)
        promotion_backtest(promotion, months=6)

    both()
    few = _queries(both)
    for i in range(6):
        record_visit(
            member(birthday=date(1990, 3, i + 1)), paid_at=noon(date(2025, 3, i + 1))
        )
    assert _queries(both) == few
    assert few <= 30  # savepoints and settings reads included


def test_the_command(record_visit, capsys):
    campaign = journey(Campaign.Trigger.NO_VISIT, 30)
    record_visit(member(), paid_at=noon(date(2025, 1, 5)))
    call_command("campaign_backtest", str(campaign.pk), "--months", "3")
    out = capsys.readouterr().out
    assert "2025-04" in out and "Total" in out
    with pytest.raises(CommandError, match="No campaign"):
        call_command("campaign_backtest", "999999", "--months", "3")
    promotion = PromotionFactory(percent=Decimal("10"))
    call_command("campaign_backtest", str(promotion.pk), "--promotion")
    assert "2025-06" in capsys.readouterr().out


def test_the_admin_page(admin_user, record_visit, rf):
    from django.contrib import admin

    from campaigns.admin.backtest import BacktestMixin

    campaign = journey(Campaign.Trigger.NO_VISIT, 30)
    record_visit(member(), paid_at=noon(date(2025, 1, 5)))
    site = admin.AdminSite()
    model_admin = type("A", (BacktestMixin, admin.ModelAdmin), {})(Campaign, site)
    names = [u.name for u in model_admin.get_urls()]
    assert "campaigns_campaign_backtest" in names

    def page(months, obj=campaign, model_admin=model_admin):
        request = rf.get("/", {"months": months})
        request.user = admin_user
        return model_admin.backtest_view(request, obj.pk).render()

    response = page("3")
    assert response.status_code == 200
    assert b"April 2025" in response.content and b"cp-notes" in response.content
    assert b"April 2025" not in page("99").content  # out of range: the form's error
    promotion = PromotionFactory(percent=Decimal("10"))
    promotion_admin = type("P", (BacktestMixin, admin.ModelAdmin), {})(Promotion, site)
    assert "campaigns_promotion_backtest" in [
        u.name for u in promotion_admin.get_urls()
    ]
    assert b"2025-06" in page("2", promotion, promotion_admin).content
