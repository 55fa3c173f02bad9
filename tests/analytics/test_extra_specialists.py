"""The specialists and services dashboard on the early-March dataset of
``test_extra_aggregates`` (see its ``shop`` fixture for every visit)."""

from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from analytics.aggregates_extra import extra_refresh
from analytics.selectors_extra import dashboard_specialists
from analytics.tables import Filters
from tests.analytics.test_extra_aggregates import shop  # noqa: F401
from tests.conftest import moscow

pytestmark = pytest.mark.django_db


@pytest.fixture
def refreshed(shop):  # noqa: F811
    with time_machine.travel(moscow(2026, 4, 1, 12), tick=False):
        extra_refresh(date(2026, 3, 1), date(2026, 3, 31))
    return shop


def _board(**filters):
    return dashboard_specialists(Filters(date(2026, 3, 1), date(2026, 3, 3), **filters))


def _table(board, key):
    return next(t for t in board.tables if t.key == key).rows


def _kpis(board):
    return {k.key: k for k in board.kpis}


def test_every_figure_of_the_three_days(refreshed):
    board = _board()

    assert _table(board, "specialists") == [
        # Olga: 1 Mar (3500), 2 Mar here (3000, Anna again) and at Tverskaya
        # (500), 3 Mar the anonymous manicure (1500): 4 visits, 3 by members,
        # 1 of them a return.
        {
            "specialist": "Olga",
            "visits": 4,
            "revenue": D("8500.00"),
            "per_visit": D("2125.00"),
            "member_visits": 3,
            "returning": 1,
            "repeat_rate": D("0.3333"),
        },
        # Kirill: Boris's massage (one of two refunded: 2800) and, back to
        # him the next day, a manicure (1500).
        {
            "specialist": "Kirill",
            "visits": 2,
            "revenue": D("4300.00"),
            "per_visit": D("2150.00"),
            "member_visits": 2,
            "returning": 1,
            "repeat_rate": D("0.5000"),
        },
    ]
    kpis = _kpis(board)
    assert kpis["specialist_repeat_rate"].value == D("0.4000")
    assert (
        kpis["specialist_repeat_rate"].numerator,
        kpis["specialist_repeat_rate"].denominator,
    ) == (2, 5)
    assert kpis["services_revenue"].value == D("15800.00")
    assert kpis["services_sold"].value == 8

    assert _table(board, "top_services") == [
        {
            "service": "Classic massage, 60 min",
            "units": 4,
            "revenue": D("11800.00"),
            "share": D("0.7468"),
        },
        {
            "service": "Manicure",
            "units": 2,
            "revenue": D("3000.00"),
            "share": D("0.1899"),
        },
        {
            "service": "Aromatherapy add-on",
            "units": 2,
            "revenue": D("1000.00"),
            "share": D("0.0633"),
        },
    ]
    assert _table(board, "services_together") == [
        {
            "service": "Classic massage, 60 min",
            "with": "Aromatherapy add-on",
            "visits": 2,
        }
        if refreshed["massage"].pk < refreshed["aroma"].pk
        else {
            "service": "Aromatherapy add-on",
            "with": "Classic massage, 60 min",
            "visits": 2,
        },
        {"service": "Classic massage, 60 min", "with": "Manicure", "visits": 1},
    ]
    assert any("tier filter does not apply" in n for n in board.notes)


def test_the_location_filter(refreshed):
    board = _board(location_id=refreshed["main"].pk)
    rows = {r["specialist"]: r for r in _table(board, "specialists")}
    assert (rows["Olga"]["visits"], rows["Olga"]["revenue"]) == (3, D("8000.00"))
    assert (rows["Olga"]["member_visits"], rows["Olga"]["returning"]) == (2, 1)
    # Boris comes back to Kirill here after their first visit at Tverskaya.
    assert (rows["Kirill"]["returning"], rows["Kirill"]["repeat_rate"]) == (
        1,
        D("1.0000"),
    )
    assert sum(p["visits"] for p in _table(board, "services_together")) == 2


def test_the_specialist_filter(refreshed):
    board = _board(specialist_id=refreshed["kirill"].pk)
    assert [r["specialist"] for r in _table(board, "specialists")] == ["Kirill"]
    assert [(r["service"], r["revenue"]) for r in _table(board, "top_services")] == [
        ("Classic massage, 60 min", D("2800.00")),
        ("Manicure", D("1500.00")),
    ]
    assert _kpis(board)["services_revenue"].value == D("4300.00")


def test_a_shorter_period(refreshed):
    board = dashboard_specialists(Filters(date(2026, 3, 2), date(2026, 3, 2)))
    rows = {r["specialist"]: r for r in _table(board, "specialists")}
    assert (rows["Olga"]["visits"], rows["Olga"]["revenue"]) == (2, D("3500.00"))
    assert rows["Olga"]["repeat_rate"] == D("0.5000")
    assert rows["Kirill"]["repeat_rate"] == D("0.0000")


def test_an_empty_period():
    board = dashboard_specialists(Filters(date(2026, 1, 1), date(2026, 1, 31)))
    assert _kpis(board)["services_revenue"].value == D("0")
    assert _kpis(board)["specialist_repeat_rate"].value is None
    assert all(t.rows == [] for t in board.tables)


def test_a_fixed_number_of_queries(refreshed, django_assert_num_queries):
    # Sums per specialist, per service, per pair, and their names: whatever
    # the number of days, visits or specialists; whole months read the
    # monthly tables only, a period with edge days the daily ones too.
    with django_assert_num_queries(6):
        dashboard_specialists(Filters(date(2026, 1, 1), date(2026, 12, 31)))
    with django_assert_num_queries(9):
        dashboard_specialists(Filters(date(2026, 2, 15), date(2026, 4, 10)))


def test_whole_months_and_edge_days_add_up(refreshed):
    # March whole (monthly rows) with the last days of February (daily rows)
    # gives what the three days of March alone give: nothing else happened.
    assert _table(_board(), "specialists") == _table(
        dashboard_specialists(Filters(date(2026, 2, 20), date(2026, 3, 31))),
        "specialists",
    )
    # 2–31 March: the daily rows only; 1 March's visit is left out.
    rows = {
        r["specialist"]: r
        for r in _table(
            dashboard_specialists(Filters(date(2026, 3, 2), date(2026, 3, 31))),
            "specialists",
        )
    }
    assert (rows["Olga"]["visits"], rows["Olga"]["revenue"]) == (3, D("5000.00"))
