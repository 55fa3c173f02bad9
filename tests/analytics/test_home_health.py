"""The program's health on the home and the figures in words.

The campaigns' results are ``campaigns.stats`` computed from arms (plain
numbers, no database): one campaign with enough data (1 000 members in each
arm, 30 % against 20 % converted) and one without (50 members a side).
"""

from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from analytics.home import Home, home_health, home_periods
from analytics.tables import Kpi
from analytics.templatetags.analytics_home import change_of, figure_text, home_context
from campaigns import stats
from tests.conftest import moscow

NOW = moscow(2026, 3, 15, 14, 0)


def result(n: int, converted_t: int, converted_c: int, revenue_t, revenue_c, cost):
    def arm(converted, revenue):
        per = Decimal(revenue)
        return stats.Arm(
            targeted=n,
            converted=converted,
            revenue_total=per * converted,
            revenue_sum_squares=per * per * converted,
        )

    return stats.campaign_result(
        arm(converted_t, revenue_t),
        arm(converted_c, revenue_c),
        cost_money=Decimal(cost),
        gross_margin=Decimal("0.6"),
    )


def program(*results):
    rows = [(f"campaign {i}", r) for i, r in enumerate(results)]
    return rows, stats.program_result(list(results))


@pytest.fixture
def conclusive():
    return result(1000, 300, 200, "3000", "3000", "50000")


@pytest.fixture
def inconclusive():
    return result(50, 20, 10, "3000", "3000", "1000")


def health_html(health) -> str:
    home = Home(periods=home_periods(NOW), health=health)
    return render_to_string("analytics/home.html", home_context(home))


def test_a_campaign_with_enough_data_shows_the_roi(conclusive, inconclusive):
    assert conclusive.enough_data and not inconclusive.enough_data

    health = home_health(program=program(conclusive, inconclusive), active_members=12)

    assert (health.campaigns, health.conclusive, health.enough_data) == (2, 1, True)
    # (0.30 − 0.20) × 3 000 × 1 000 + (0.40 − 0.20) × 3 000 × 50 of revenue
    assert health.incremental_revenue == Decimal("330000.00")
    # × 0.6 margin ÷ (50 000 + 1 000) of cost
    assert health.roi == Decimal("3.8824")
    html = health_html(health)
    assert 'data-figure="roi"' in html
    assert "3.88\u00a0×" in html
    assert "330,000\u00a0₽" in html
    assert "1 of 2 campaigns have enough data to conclude." in html
    assert "not enough data yet" not in html


def test_without_enough_data_it_says_so(inconclusive):
    health = home_health(program=program(inconclusive), active_members=3)

    assert health.enough_data is False
    html = health_html(health)
    assert 'data-figure="roi"' not in html
    assert "Campaigns: not enough data yet to tell whether they pay off." in html
    assert 'data-figure="active_members"' in html


def test_no_campaign_at_all_is_not_enough_data():
    health = home_health(program=program(), active_members=0)

    assert (health.campaigns, health.roi, health.enough_data) == (0, None, False)


def kpi(value, previous, unit="count"):
    return Kpi("x", "X", value, unit, previous=previous)


@pytest.mark.parametrize(
    ("value", "previous", "text", "trend"),
    [
        (12, 10, "▲\u00a0+20\u00a0%", "up"),
        (5, 10, "▼\u00a0−50\u00a0%", "down"),
        (7, 7, "±0\u00a0%", "flat"),
        (3, 0, "▲", "up"),
        (0, 0, "±0\u00a0%", "flat"),
        (Decimal("1500.00"), Decimal("1000.00"), "▲\u00a0+50\u00a0%", "up"),
        (4, None, "", ""),
    ],
)
def test_the_change_against_the_previous_period(value, previous, text, trend):
    assert change_of(kpi(value, previous)) == {"text": text, "trend": trend}


def test_figures_are_written_as_the_admin_writes_them():
    assert figure_text(Decimal("12345.50"), "money") == "12,345.50\u00a0₽"
    assert figure_text(1234567, "points") == "1,234,567"
    with translation.override("ru"):
        assert figure_text(Decimal("6000.00"), "money") == "6\u00a0000\u00a0₽"
        assert figure_text(1234, "count") == "1\u00a0234"
