"""The distinct-member window figures (``SpanStat``): active, lost, the
repeat purchase rate and churn read from one row a day of the window equal
the reference computations over the visits, for every window, in every
scope; they stay equal through refreshes, and fall back to the visits where
the rows cannot answer."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from analytics import kpis
from analytics import selectors_spans as spans
from analytics.aggregates import aggregates_rebuild, aggregates_refresh
from analytics.models import SpanStat, SpanState
from analytics.spans import is_built, span_days_touched, spans_rebuild
from analytics.tables import Filters
from members import services
from members.models import Visit
from members.services.visits import member_stats_reconcile
from tests.conftest import moscow
from tests.factories.members import LocationFactory, MemberFactory

pytestmark = pytest.mark.django_db

TODAY = moscow(2026, 6, 30, 12, 0)
FIRST = date(2026, 1, 1)
LAST = date(2026, 6, 30)


def travel(moment=TODAY):
    return time_machine.travel(moment, tick=False)


def paid(member, location, moment, status=Visit.Status.PAID) -> Visit:
    return Visit(
        member=member,
        location=location,
        status=status,
        total=Decimal("1000.00"),
        amount_paid=Decimal("1000.00"),
        paid_at=moment,
        fingerprint="test",
    )


@pytest.fixture
def history():
    """Twelve members' paid visits at random over six months at two locations:
    runs of days, gaps of every length, two visits on one day, a visit at
    local midnight and one a second before it, one cancelled visit."""
    rng = random.Random(16)
    a, b = LocationFactory(), LocationFactory()
    members = MemberFactory.create_batch(12)
    visits = []
    for member in members:
        for _ in range(rng.randint(1, 9)):
            day = FIRST + timedelta(days=rng.randint(0, (LAST - FIRST).days))
            moment = moscow(day.year, day.month, day.day, rng.randint(9, 20), 0)
            visits.append(paid(member, rng.choice([a, b]), moment))
    first = members[0]
    visits += [
        paid(first, a, moscow(2026, 3, 10, 10, 0)),
        paid(first, a, moscow(2026, 3, 10, 18, 0)),  # twice that day
        paid(first, b, moscow(2026, 3, 11, 0, 0, 0)),  # local midnight
        paid(first, b, moscow(2026, 3, 11, 23, 59, 59)),
        paid(first, a, moscow(2026, 3, 12, 12, 0), status=Visit.Status.CANCELLED),
    ]
    Visit.objects.bulk_create(visits)
    member_stats_reconcile()  # the members' cached visit figures
    return {"a": a, "b": b, "members": members}


def rebuild():
    with travel():
        aggregates_rebuild()


def windows(step: int = 9) -> list[tuple[date, date]]:
    starts = [FIRST + timedelta(days=i) for i in range(0, 180, step)]
    return [
        (s, s + timedelta(days=length))
        for s in starts
        for length in (0, 1, 6, 29, 40, 89, 120)
        if s + timedelta(days=length) <= LAST + timedelta(days=5)
    ]


def assert_all_equal(scopes: list[dict]) -> int:
    checked = 0
    for day_from, day_to in windows():
        for scope in scopes:
            f = Filters(day_from, day_to, **scope)
            assert spans.rpr_parts(f) == kpis.rpr_parts(f), f
            assert spans.active_count(f) == kpis.active_count(f), f
            assert spans.lost_count(f) == kpis.lost_count(f), f
            assert spans.churn_parts(f) == kpis.churn_parts(f), f
            checked += 1
    return checked


def test_the_window_figures_equal_the_visits_for_every_window(history):
    # Given the history, aggregated from scratch
    rebuild()
    assert is_built()
    scopes = [{}, {"location_id": history["a"].pk}, {"location_id": history["b"].pk}]
    # Then every window's figures equal the direct count, in every scope
    checked = assert_all_equal(scopes)
    assert checked > 150
    # and they are not all zero (the fixture has repeat visitors)
    f = Filters(FIRST, LAST)
    repeat, members = spans.rpr_parts(f)
    assert members == 12 and repeat >= 5


def test_active_by_location_equals_the_visits(history):
    rebuild()
    for day_from, day_to in windows(step=20):
        f = Filters(day_from, day_to)
        assert spans.active_by_location(f) == {
            k: v for k, v in kpis.active_by_location(f).items() if v
        }


def test_rpr_and_churn_by_month_equal_the_visits(history):
    rebuild()
    f = Filters(date(2026, 2, 10), date(2026, 6, 20))
    months = [date(2026, m, 1) for m in range(2, 7)]
    got = spans.rpr_by_month(f, months)
    assert got == {m: v for m, v in kpis.rpr_by_month(f).items() if v[1]}
    parts = [
        Filters(max(m, f.date_from), min(month_end, f.date_to))
        for m, month_end in zip(
            months,
            [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
            + [date(2026, 5, 31), date(2026, 6, 30)],
            strict=True,
        )
    ]
    assert spans.churn_by_month(f, parts) == [kpis.churn_parts(p) for p in parts]


def test_the_rows_answer_in_one_query_a_figure(history, django_assert_num_queries):
    rebuild()
    f = Filters(date(2026, 3, 1), date(2026, 3, 31))
    # built? + the window sums
    with django_assert_num_queries(2):
        spans.rpr_parts(f)
    with django_assert_num_queries(3):  # built? + ever + the window
        spans.lost_count(f)
    with django_assert_num_queries(2):
        spans.churn_parts(f)


def test_a_refresh_after_a_cancellation_equals_the_rebuild(history):
    # Given the rows as of June 30
    rebuild()
    member = history["members"][0]
    # When on July 1 the member's first visit of March 10 is cancelled, and
    # July 1 refreshed (the nightly and hourly refresh)
    later = moscow(2026, 7, 1, 12, 0)
    with time_machine.travel(later, tick=False):
        visit = Visit.objects.get(member=member, paid_at=moscow(2026, 3, 10, 10, 0))
        services.visit_cancel(visit=visit, reason="mistake")
        # the member's later visits' days are re-touched
        touched = span_days_touched(date(2026, 7, 1), date(2026, 7, 1))
        assert {date(2026, 3, 10), date(2026, 3, 11)} <= set(touched)
        aggregates_refresh(date(2026, 7, 1), date(2026, 7, 1))
    refreshed = snapshot()
    # Then the rows are those a rebuild writes
    with time_machine.travel(later, tick=False):
        spans_rebuild()
    assert snapshot() == refreshed


COLUMNS = ["day", "since", "location_id", "members", "repeat_members"]


def snapshot() -> list[tuple]:
    return sorted(SpanStat.objects.values_list(*COLUMNS), key=str)


def test_a_refresh_of_new_visits_equals_the_rebuild(history):
    rebuild()
    member, a = history["members"][3], history["a"]
    stranger = MemberFactory()
    Visit.objects.bulk_create(
        [
            paid(member, a, moscow(2026, 6, 30, 15, 0)),
            paid(stranger, a, moscow(2026, 6, 30, 16, 0)),
            paid(stranger, a, moscow(2026, 6, 30, 17, 0)),
        ]
    )
    with travel():
        aggregates_refresh(LAST, LAST)
    refreshed = snapshot()
    with travel():
        spans_rebuild()
    assert snapshot() == refreshed
    assert spans.rpr_parts(Filters(LAST, LAST)) == kpis.rpr_parts(Filters(LAST, LAST))


def test_before_the_first_rebuild_the_figures_come_from_the_visits(history):
    # Nothing built: no rows, and the figures are still right (counted live)
    assert not is_built()
    with travel():
        aggregates_refresh(LAST, LAST)  # a refresh does not build them
    assert not SpanStat.objects.exists()
    f = Filters(date(2026, 4, 1), date(2026, 4, 30))
    assert spans.lost_count(f) == kpis.lost_count(f) >= 0
    assert spans.rpr_parts(f) == kpis.rpr_parts(f)


def test_a_changed_window_limit_needs_a_rebuild(history):
    rebuild()
    with override_settings(ANALYTICS_SPAN_DAYS=30):
        # The rows were built for a longer limit: counted from the visits
        assert not is_built()
        f = Filters(date(2026, 4, 1), date(2026, 4, 30))
        assert spans.rpr_parts(f) == kpis.rpr_parts(f)


@override_settings(ANALYTICS_SPAN_DAYS=40)
def test_windows_longer_than_the_limit_are_counted_from_the_visits(history):
    rebuild()
    assert SpanState.objects.get().span_days == 40
    oldest = SpanStat.objects.exclude(since=None).order_by("since").first()
    assert (oldest.day - oldest.since).days <= 40
    # 41 days: from the rows; 121 days: from the visits; both right
    assert_all_equal([{}, {"location_id": history["a"].pk}])


def test_the_tier_filter_is_counted_from_the_visits(history):
    rebuild()
    tier_id = 999_999  # no visit at it: all zero, as the visits say
    f = Filters(date(2026, 3, 1), date(2026, 3, 31), tier_id=tier_id)
    assert spans.rpr_parts(f) == kpis.rpr_parts(f) == (0, 0)
    assert spans.active_count(f) == 0


def test_the_dashboards_say_so_until_the_rows_are_built(history):
    from analytics.selectors import dashboard_members, dashboard_repeat

    f = Filters(date(2026, 4, 1), date(2026, 4, 30))
    for dashboard in (dashboard_members, dashboard_repeat):
        assert any("analytics_rebuild" in note for note in dashboard(f).notes)
    rebuild()
    for dashboard in (dashboard_members, dashboard_repeat):
        assert not any("analytics_rebuild" in note for note in dashboard(f).notes)
