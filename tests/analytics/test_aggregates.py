"""The daily aggregates: filled set-based, idempotent, re-touched when the
past changes, and equal to the direct computation from the raw tables."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from analytics.aggregates import (
    aggregates_rebuild,
    aggregates_refresh,
    days_touched,
)
from analytics.kpis import kpis_direct
from analytics.models import CohortStat, DailyStat
from analytics.selectors import kpis_from_aggregates
from analytics.tables import Filters
from members import services
from members.models import Visit
from tests.analytics import test_aggregates_dataset as dataset
from tests.conftest import moscow

history = dataset.history

TODAY = moscow(2026, 6, 15, 12, 0)


def rebuild():
    with time_machine.travel(TODAY, tick=False):
        return aggregates_rebuild()


def snapshot() -> list[tuple]:
    return sorted(
        DailyStat.objects.values_list(
            "day",
            "location_id",
            "tier_id",
            "member_visits",
            "member_money",
            "anon_visits",
            "anon_money",
            "new_members",
            "new_retained",
            "points_issued",
            "points_redeemed",
            "points_expired",
            "lots_issued",
            "lots_expired",
        ),
        key=str,
    )


def row(day: date, location, tier) -> DailyStat:
    return DailyStat.objects.get(day=day, location=location, tier=tier)


def test_the_aggregates_equal_the_direct_computation(history):
    # Given the constructed history, aggregated from scratch
    rebuild()
    a, b = history["a"], history["b"]
    base, silver = history["base"].pk, history["silver"].pk
    periods = [
        (date(2025, 12, 1), date(2026, 6, 15)),
        (date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 3, 1), date(2026, 3, 1)),
        (date(2026, 2, 28), date(2026, 2, 28)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 2, 1), date(2026, 3, 31)),
    ]
    narrowing = [
        {},
        {"location_id": a.pk},
        {"location_id": b.pk},
        {"tier_id": base},
        {"tier_id": silver},
        {"location_id": a.pk, "tier_id": silver},
    ]
    checked = 0
    for day_from, day_to in periods:
        for extra in narrowing:
            f = Filters(day_from, day_to, **extra)
            # When the KPIs are read from the aggregates and computed directly
            from_aggregates = kpis_from_aggregates(f)
            for direct in kpis_direct(f):
                got = from_aggregates[direct.key]
                # Then every figure and its parts agree
                assert (got.value, got.numerator, got.denominator) == (
                    direct.value,
                    direct.numerator,
                    direct.denominator,
                ), (f, direct.key)
                checked += 1
    assert checked == len(periods) * len(narrowing) * 7


def test_a_day_holds_its_visits_money_new_members_and_points(history):
    rebuild()
    a, b, base = history["a"], history["b"], history["base"]

    # Local midnight belongs to its own day; the visit exactly 30 × 24 h
    # later retains m1, the one a second more does not retain m2.
    first = row(date(2026, 3, 1), a, base)
    assert (first.member_visits, first.member_money) == (1, Decimal("3000.00"))
    assert (first.new_members, first.new_retained) == (1, 1)
    before = row(date(2026, 2, 28), a, base)
    assert (before.new_members, before.new_retained) == (1, 0)
    assert row(date(2026, 3, 31), b, base).member_visits == 1

    # The cancelled first visit is not one; the next paid visit is the first.
    assert not DailyStat.objects.filter(day=date(2026, 3, 5), member_visits__gt=0)
    assert row(date(2026, 3, 10), a, base).new_members == 1
    # Money is paid − refunded; a visit refunded in full is not a paid visit.
    assert row(date(2026, 3, 20), a, base).member_money == Decimal("3000.00")
    assert not DailyStat.objects.filter(day=date(2026, 3, 15), member_visits__gt=0)

    # The tier at the visit: the fifth visit earned silver, the next is in it.
    silver = history["silver"]
    assert row(date(2026, 4, 10), a, base).member_visits == 1
    assert row(date(2026, 4, 20), a, silver).member_visits == 1

    # Points: the bonus has no visit, hence no location; it expired on 03-12.
    bonus_day = row(date(2026, 3, 1), None, base)
    assert (bonus_day.points_issued, bonus_day.lots_issued) == (200, 200)
    assert bonus_day.lots_expired == 200
    assert row(date(2026, 3, 12), None, base).points_expired == 200
    assert row(date(2026, 4, 21), None, silver).points_redeemed == 100


@pytest.mark.skipif(not dataset.ANONYMOUS_OK, reason="visits cannot be anonymous yet")
def test_anonymous_visits_have_their_own_figures(history):
    rebuild()
    a, b = history["a"], history["b"]

    anonymous = row(date(2026, 3, 1), a, None)
    assert (anonymous.anon_visits, anonymous.anon_money) == (1, Decimal("700.00"))
    assert anonymous.member_visits == 0
    assert row(date(2026, 4, 2), b, None).anon_money == Decimal("900.00")


def test_the_cohorts_count_members_by_month_of_first_visit(history):
    rebuild()
    a, base = history["a"], history["base"]

    def cell(cohort, offset):
        return (
            CohortStat.objects.filter(
                cohort=cohort, offset=offset, location=a, tier=base
            )
            .values_list("members", flat=True)
            .first()
        )

    # March's cohort: m1 (A, 03-01) and m3 (A, 03-10); m1 came back in April.
    assert cell(date(2026, 3, 1), 0) == 2
    assert cell(date(2026, 3, 1), 1) == 1
    # February's: m2, back in March (at B: the cohort is its first location).
    assert cell(date(2026, 2, 1), 1) == 1
    assert cell(date(2026, 2, 1), 2) is None


def test_a_refresh_is_idempotent_and_equals_the_rebuild(history):
    rebuild()
    rebuilt = snapshot()
    with time_machine.travel(TODAY, tick=False):
        aggregates_refresh(date(2026, 3, 1), date(2026, 4, 30))
        aggregates_refresh(date(2026, 3, 1), date(2026, 4, 30))
    assert snapshot() == rebuilt


def test_a_refresh_of_today_re_touches_the_day_of_a_visit_cancelled_today(history):
    # Given the aggregates as of mid-June
    rebuild()
    m1, a, silver = history["members"][0], history["a"], history["silver"]
    assert row(date(2026, 4, 20), a, silver).member_visits == 1

    # When m1's April 20 visit is cancelled on June 16 and June 16 refreshed
    later = moscow(2026, 6, 16, 12, 0)
    with time_machine.travel(later, tick=False):
        visit = Visit.objects.get(member=m1, paid_at=moscow(2026, 4, 20, 18, 0))
        services.visit_cancel(visit=visit, reason="mistake")
        result = aggregates_refresh(date(2026, 6, 16), date(2026, 6, 16))

    # Then April 20 lost its visit, as a rebuild would have it
    assert date(2026, 4, 20) in result.days
    assert not DailyStat.objects.filter(day=date(2026, 4, 20), member_visits__gt=0)
    refreshed = snapshot()
    with time_machine.travel(later, tick=False):
        aggregates_rebuild()
    assert snapshot() == refreshed


def test_a_refresh_reaches_back_over_the_open_retention_windows(history):
    days = days_touched(date(2026, 6, 15), date(2026, 6, 15))
    assert date(2026, 6, 15) - timedelta(days=31) in days
    assert days[-1] == date(2026, 6, 15)
    assert days_touched(date(2026, 6, 15), date(2026, 6, 15), reach_back=False) == [
        date(2026, 6, 15)
    ]


def test_a_refresh_leaves_other_days_alone(history):
    rebuild()
    DailyStat.objects.filter(day=date(2026, 1, 10)).update(member_visits=99)
    with time_machine.travel(TODAY, tick=False):
        aggregates_refresh(date(2026, 6, 1), date(2026, 6, 15), cohorts=False)
    assert DailyStat.objects.get(day=date(2026, 1, 10)).member_visits == 99


def test_the_refresh_is_set_based(history, django_assert_max_num_queries):
    # A month's refresh costs a fixed number of queries, whatever the members
    # (the cohorts: one more per cohort month).
    with time_machine.travel(TODAY, tick=False), django_assert_max_num_queries(40):
        aggregates_refresh(
            date(2026, 3, 1), date(2026, 3, 31), reach_back=False, cohorts=False
        )


def test_first_visits_by_the_members_cache_equal_those_by_the_visits(history):
    from analytics.aggregates import first_visits, first_visits_between
    from members.services.visits import member_stats_reconcile

    # Two visits of one member at the same instant: the lower id is first
    member = history["members"][0]
    twin = Visit.objects.filter(member=member).order_by("paid_at").first()
    twin.pk, twin.external_id, twin.fingerprint = None, "", "twin"
    twin.paid_at = moscow(2025, 11, 30, 10, 0)
    twin.save()
    twin.pk, twin.fingerprint = None, "twin2"
    twin.save()
    member_stats_reconcile()
    for day_from, day_to in [
        (date(2025, 11, 1), date(2026, 6, 30)),
        (date(2025, 11, 30), date(2025, 11, 30)),
        (date(2026, 3, 1), date(2026, 3, 31)),
    ]:
        bounds = {
            "paid_at__gte": moscow(day_from.year, day_from.month, day_from.day),
            "paid_at__lt": moscow(day_to.year, day_to.month, day_to.day)
            + timedelta(days=1),
        }
        expected = set(first_visits().filter(**bounds).values_list("id", flat=True))
        got = set(first_visits_between(day_from, day_to).values_list("id", flat=True))
        assert got == expected and expected
