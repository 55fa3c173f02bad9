"""The home's figures on a constructed dataset with a fixed clock.

Now is Sunday 15 March 2026, 14:00 in Moscow. Today (00:00–14:00) is
compared with yesterday up to 14:00, this month (1–15 March, 14:00) with
1–15 February up to 14:00.

Visits (3 000 the massage, 500 the add-on):
- Anna, 10 Feb 10:00, 3 000 — her first: February's one new member;
- Dmitri, 16 Feb 10:00, 3 000 — after the 15th: outside February's window;
- Anna, 14 Mar 10:00, 3 000 — yesterday before 14:00;
- Boris, 14 Mar 16:00, 3 000 — his first, yesterday after 14:00: this month
  only;
- Anna, 15 Mar 09:00, massage + add-on 3 500, the add-on refunded (500):
  3 000 of money;
- Vera, 15 Mar 11:00, 3 000, refunded in full: no longer counts;
- Vera, 15 Mar 12:00, 3 000 of which 2 500 paid in money: her first paid
  visit, today's new member;
- Boris, 15 Mar 13:00, cancelled: does not count.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from analytics.home import home_figures, home_periods, home_visits_today
from analytics.spans import spans_rebuild
from members import services
from members.models import Visit
from rewards.models import LedgerEntry
from tests.conftest import moscow
from tests.factories import MemberFactory
from tests.rewards.conftest import checkout, give_points, program_defaults

__all__ = ["checkout", "program_defaults"]  # fixtures the tests use

pytestmark = pytest.mark.django_db

NOW = moscow(2026, 3, 15, 14, 0)


def at(moment, make):
    with time_machine.travel(moment, tick=False):
        return make()


def earned(*visits: Visit) -> int:
    """What the program credited for these visits (its own rules, tiers and
    all), less what their refunds took back: the home must add up exactly
    these entries."""
    entries = LedgerEntry.objects.filter(visit__in=visits)
    credited = sum(e.amount for e in entries.filter(kind=LedgerEntry.Kind.EARN))
    taken = sum(
        e.amount - e.debt_change for e in entries.filter(kind=LedgerEntry.Kind.REVERSE)
    )
    return credited + taken


@pytest.fixture
def dataset(program_defaults, record_visit, service, addon):
    anna = MemberFactory(first_name="Anna")
    boris = MemberFactory(first_name="Boris")
    vera = MemberFactory(first_name="Vera")
    dmitri = MemberFactory(first_name="Dmitri")

    def visit(member, moment, **kwargs):
        return at(moment, lambda: record_visit(member, paid_at=moment, **kwargs))

    feb = visit(anna, moscow(2026, 2, 10, 10, 0))
    visit(dmitri, moscow(2026, 2, 16, 10, 0))
    yesterday = visit(anna, moscow(2026, 3, 14, 10, 0))
    evening = visit(boris, moscow(2026, 3, 14, 16, 0))
    both = visit(
        anna,
        moscow(2026, 3, 15, 9, 0),
        lines=[
            services.VisitLineInput(service=service),
            services.VisitLineInput(service=addon),
        ],
    )
    add_on = both.lines.get(service=addon)
    at(
        moscow(2026, 3, 15, 9, 30),
        lambda: services.visit_refund_partial(
            visit=both, lines=[(add_on, 1)], key="addon-back"
        ),
    )
    refunded = visit(vera, moscow(2026, 3, 15, 11, 0))
    at(moscow(2026, 3, 15, 11, 5), lambda: services.visit_refund(visit=refunded))
    vera_paid = visit(vera, moscow(2026, 3, 15, 12, 0), amount_paid="2500")
    cancelled = visit(boris, moscow(2026, 3, 15, 13, 0))
    at(moscow(2026, 3, 15, 13, 5), lambda: services.visit_cancel(visit=cancelled))
    # Bonuses: 70 today, 40 yesterday after 14:00 (outside yesterday's window).
    at(moscow(2026, 3, 15, 10, 0), lambda: give_points(anna, 70))
    at(moscow(2026, 3, 14, 18, 0), lambda: give_points(boris, 40))
    return {
        "feb": feb,
        "yesterday": yesterday,
        "evening": evening,
        "both": both,
        "vera_paid": vera_paid,
    }


def by_key(cards):
    return {k.key: (k.value, k.previous) for k in cards}


def test_periods_compare_like_with_like():
    periods = home_periods(NOW)

    assert periods.today.start == moscow(2026, 3, 15)
    assert periods.today.end == NOW
    assert periods.yesterday.start == moscow(2026, 3, 14)
    assert periods.yesterday.end == moscow(2026, 3, 14, 14, 0)
    assert periods.month.start == moscow(2026, 3, 1)
    assert periods.previous_month.start == moscow(2026, 2, 1)
    assert periods.previous_month.end == moscow(2026, 2, 15, 14, 0)


def test_a_day_the_previous_month_lacks_compares_with_all_of_it():
    periods = home_periods(moscow(2026, 3, 31, 9, 30))

    assert periods.previous_month.start == moscow(2026, 2, 1)
    assert periods.previous_month.end == moscow(2026, 3, 1) - timedelta(microseconds=1)
    # And a new year's first day against December.
    january = home_periods(moscow(2027, 1, 1, 8, 0))
    assert january.yesterday.start == moscow(2026, 12, 31)
    assert january.previous_month.start == moscow(2026, 12, 1)
    assert january.previous_month.end == moscow(2026, 12, 1, 8, 0)


def test_the_figures_of_today_and_of_the_month(dataset):
    figures = home_figures(now=NOW)

    today, month = by_key(figures.today), by_key(figures.month)
    assert today["visits"] == (2, 1)
    assert today["revenue"] == (Decimal("5500.00"), Decimal("3000.00"))
    assert today["new_members"] == (1, 0)
    assert month["visits"] == (4, 1)
    assert month["revenue"] == (Decimal("11500.00"), Decimal("3000.00"))
    assert month["new_members"] == (2, 1)
    # Points: what the paid visits earned, plus the bonuses in each window.
    d = dataset
    assert today["points_issued"] == (
        earned(d["both"], d["vera_paid"]) + 70,
        earned(d["yesterday"]),
    )
    assert month["points_issued"][0] == (
        earned(d["yesterday"], d["evening"], d["both"], d["vera_paid"]) + 70 + 40
    )
    assert month["points_issued"][1] == earned(d["feb"])
    assert today["points_issued"][0] > 70  # the visits did earn
    # The add-on's refund took back some of what the visit earned; Vera's
    # refunded and Boris's cancelled visits earned and gave it all back.
    assert (
        earned(d["both"]) < LedgerEntry.objects.get(visit=d["both"], kind="earn").amount
    )
    # Active: everyone with a paid visit in the last 90 days (Vera's refunded
    # visit aside, she has a paid one).
    assert figures.active_members == 4
    # the same once the window figures are built (read from them, not counted)
    with time_machine.travel(NOW, tick=False):
        spans_rebuild()
    assert home_figures(now=NOW).active_members == 4


def test_points_spent_at_checkout_are_redeemed(program_defaults, checkout, member):
    with time_machine.travel(moscow(2026, 3, 10, 12, 0), tick=False):
        give_points(member, 500)
    with time_machine.travel(moscow(2026, 3, 15, 10, 0), tick=False):
        checkout(member, points_to_use=200)
    with time_machine.travel(moscow(2026, 3, 14, 10, 0), tick=False):
        checkout(member, points_to_use=50)

    figures = home_figures(now=NOW)

    assert by_key(figures.today)["points_redeemed"] == (200, 50)
    assert by_key(figures.month)["points_redeemed"] == (250, 0)


def test_the_front_desk_count_is_todays_visits_only(dataset):
    kpi = home_visits_today(now=NOW)

    assert (kpi.key, kpi.value, kpi.previous, kpi.unit) == ("visits", 2, 1, "count")


@pytest.mark.skipif(
    not Visit._meta.get_field("member").null,
    reason="anonymous visits need Visit.member to be nullable",
)
def test_anonymous_visits_count_in_visits_and_revenue(program_defaults, checkout):
    with time_machine.travel(moscow(2026, 3, 15, 10, 0), tick=False):
        checkout(None)

    figures = home_figures(now=NOW)

    today = by_key(figures.today)
    assert today["visits"] == (1, 0)
    assert today["revenue"] == (Decimal("3000.00"), Decimal("0"))
    assert today["new_members"] == (0, 0)
    assert home_visits_today(now=NOW).value == 1


def planning(queries: int) -> int:
    """On PostgreSQL the reads run in a transaction of their own (a savepoint
    inside the test's) with ``queries`` statements of planner settings."""
    return queries + 2 if connection.vendor == "postgresql" else 0


def test_a_handful_of_queries_whatever_the_data(
    dataset, django_assert_num_queries, record_visit
):
    # the sums, the window figures' state and their active members
    with django_assert_num_queries(5 + planning(2)):
        home_figures(now=NOW)
    for n in range(5):
        at(moscow(2026, 3, 15, 8, n), lambda: record_visit(MemberFactory()))
    with time_machine.travel(NOW, tick=False):
        spans_rebuild()
    with django_assert_num_queries(5 + planning(2)):
        home_figures(now=NOW)
    with django_assert_num_queries(1 + planning(1)):
        home_visits_today(now=NOW)
