"""The core dashboards' selectors: what they read from the aggregates, with
every filter and the previous period."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from analytics import selectors
from analytics.aggregates import aggregates_rebuild
from analytics.tables import Dashboard, Filters
from rewards.models import ProgramSettings
from tests.analytics import test_aggregates_dataset as dataset
from tests.conftest import moscow

history = dataset.history
MARCH = Filters(date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture
def aggregated(history):
    with time_machine.travel(moscow(2026, 6, 15, 12, 0), tick=False):
        aggregates_rebuild()
    return history


def cards(board: Dashboard) -> dict:
    return {k.key: k for k in board.kpis}


def table(board: Dashboard, key: str):
    return next(t for t in board.tables if t.key == key)


def test_kpi_list_has_every_defined_kpi_with_the_previous_period(aggregated):
    got = {k.key: k for k in selectors.kpi_list(MARCH)}
    assert list(got) == [
        "repeat_purchase_rate",
        "new_member_retention_30d",
        "average_check_members",
        "average_check_anonymous",
        "active_members",
        "lost_members",
        "breakage_rate",
    ]
    # March against the 31 days before it (Jan 29 – Feb 28): m2 joined on
    # Feb 28 and was not back within 30 days.
    assert got["new_member_retention_30d"].value == Decimal("1.0000")
    assert got["new_member_retention_30d"].previous == Decimal("0.0000")
    assert got["average_check_members"].previous == Decimal("2500.00")


def test_members_dashboard(aggregated):
    board = selectors.dashboard_members(MARCH)
    got = cards(board)
    # Members to the end of March: m5, m4, m2, m1, m3; new in March: m1, m3.
    assert got["total_members"].value == 5
    assert got["total_members"].previous == 3
    assert got["new_members"].value == 2
    # Active at the end of March: a visit since Jan 1 — all but m5 (Dec 21).
    assert got["active_members"].value == 4
    by_location = table(board, "members_by_location")
    assert [r["location"] for r in by_location.rows] == [
        "Patriarch Ponds",
        "Chistye Prudy",
    ]
    assert by_location.rows[0]["new_members"] == 2
    assert by_location.chart == "bar" and by_location.x == "location"
    by_tier = table(board, "members_by_tier")
    assert by_tier.rows[0]["tier"] == aggregated["base"].name
    assert by_tier.rows[0]["members"] == 5


def test_members_dashboard_honours_the_location_and_tier(aggregated):
    at_b = selectors.dashboard_members(
        Filters(MARCH.date_from, MARCH.date_to, location_id=aggregated["b"].pk)
    )
    # At B: m4 joined there (January); m2 only came back there.
    assert cards(at_b)["total_members"].value == 1
    assert cards(at_b)["active_members"].value == 2
    silver = selectors.dashboard_members(
        Filters(date(2026, 4, 1), date(2026, 4, 30), tier_id=aggregated["silver"].pk)
    )
    assert cards(silver)["active_members"].value == 1
    assert cards(silver)["new_members"].value == 0


def test_retention_dashboard_with_the_cohort_heatmap(aggregated):
    board = selectors.dashboard_retention(Filters(date(2026, 2, 1), date(2026, 4, 30)))
    got = cards(board)
    assert (got["new_member_retention_30d"].numerator, got["new_members"].value) == (
        2,
        3,
    )
    heatmap = table(board, "cohorts")
    assert heatmap.chart == "heatmap"
    assert heatmap.series[0] == "m0" and heatmap.series[-1] == "m12"
    march = next(r for r in heatmap.rows if r["cohort"] == date(2026, 3, 1))
    assert march["size"] == 2
    assert (march["m0"], march["m1"]) == (Decimal("1.0000"), Decimal("0.5000"))
    # Months after the period have no figure yet.
    assert march["m2"] is None
    churn = table(board, "churn_by_month")
    assert [r["month"] for r in churn.rows] == [
        date(2026, 2, 1),
        date(2026, 3, 1),
        date(2026, 4, 1),
    ]


def test_repeat_dashboard(aggregated):
    board = selectors.dashboard_repeat(MARCH)
    got = cards(board)
    assert got["repeat_purchase_rate"].value == Decimal("0.6667")
    # 5 members' visits by 3 members.
    assert got["visit_frequency"].value == Decimal("1.67")
    assert got["average_check_members"].value == Decimal("2520.00")
    by_tier = table(board, "average_check_by_tier")
    assert by_tier.rows == [
        {
            "tier": aggregated["base"].name,
            "visits": 5,
            "money": Decimal("12600.00"),
            "average_check": Decimal("2520.00"),
        }
    ]
    rpr = table(board, "rpr_by_month")
    assert rpr.rows[0]["rpr"] == Decimal("0.6667")
    assert rpr.chart == "line" and rpr.series == ["rpr"]


@pytest.mark.skipif(not dataset.ANONYMOUS_OK, reason="visits cannot be anonymous yet")
def test_repeat_dashboard_sets_members_against_anonymous_visits(aggregated):
    board = selectors.dashboard_repeat(MARCH)
    rows = table(board, "members_vs_anonymous").rows
    assert [r["visits"] for r in rows] == [5, 2]
    assert rows[1]["average_check"] == Decimal("750.00")
    assert cards(board)["member_visit_share"].value == Decimal("0.7143")


def test_points_dashboard_and_the_liability(aggregated):
    settings = ProgramSettings.objects.get()
    settings.point_value = Decimal("0.50")
    settings.save()
    board = selectors.dashboard_points(Filters(date(2025, 12, 1), date(2026, 6, 15)))
    got = cards(board)
    assert got["points_redeemed"].value == 100
    assert got["points_expired"].value == 200
    # Historic redemption rate: 100 ÷ (100 + 200).
    assert got["redemption_rate"].value == Decimal("0.3333")
    outstanding = got["points_outstanding"].value
    assert outstanding > 0
    assert got["points_liability"].value == (
        Decimal(outstanding) * Decimal("0.50") * Decimal("0.3333")
    ).quantize(Decimal("0.01"))
    months = table(board, "points_by_month")
    march = next(r for r in months.rows if r["month"] == date(2026, 3, 1))
    assert march["expired"] == 200


def test_a_specialist_filter_is_noted_where_it_does_not_apply(aggregated):
    f = Filters(MARCH.date_from, MARCH.date_to, specialist_id=1)
    for board in (
        selectors.dashboard_members(f),
        selectors.dashboard_retention(f),
        selectors.dashboard_repeat(f),
        selectors.dashboard_points(f),
    ):
        assert any("specialist" in note for note in board.notes)


def test_the_dashboards_read_few_queries(aggregated, django_assert_max_num_queries):
    # Set-based: a fixed number of queries, not one per member or per day.
    with django_assert_max_num_queries(30):
        selectors.dashboard_points(MARCH)
    with django_assert_max_num_queries(30):
        selectors.dashboard_members(MARCH)
