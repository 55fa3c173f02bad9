"""The referrals and campaigns dashboards on datasets with known answers:
referrals made through the sign-up and visit services, campaign arms as the
campaigns' results tests build them."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import time_machine

from analytics.aggregates_extra import extra_refresh
from analytics.selectors_extra import dashboard_campaigns, dashboard_referrals
from analytics.tables import Filters
from campaigns.models import Enrollment
from members import services as member_services
from referrals.models import Referral
from tests.campaigns.conftest import NOW
from tests.campaigns.test_results import S, dataset, visit  # noqa: F401
from tests.conftest import MOSCOW, moscow
from tests.referrals.conftest import (  # noqa: F401
    first_visit,
    member_new,
    referral_defaults,
    referrer,
    signup,
    velocity_off,
)

pytestmark = pytest.mark.django_db

MARCH = Filters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))


def _kpis(dashboard):
    return {k.key: k for k in dashboard.kpis}


@pytest.fixture
def referrals(referral_defaults, velocity_off, referrer, signup, first_visit):  # noqa: F811
    """Olga (a client since January) brings four friends; one more client
    comes on her own. In March: f1 signs up and is rewarded; f2 signs up and
    never comes; f3 signs up, comes, and her visit is refunded (annulled);
    f4, who signed up in February, is rewarded on 1 March; m5 joins at the
    till and comes on 4 March. Rewards: 500 points a side, a point = 1.00."""
    with time_machine.travel(moscow(2026, 1, 15, 12), tick=False) as clock:
        first_visit(referrer, paid_at=moscow(2026, 1, 15, 11))
        clock.move_to(moscow(2026, 2, 20, 12))
        f4 = signup(referrer.code)
        clock.move_to(moscow(2026, 3, 1, 12))
        first_visit(f4)
        m5 = member_new(first_name="Maria")
        clock.move_to(moscow(2026, 3, 2, 12))
        f1 = signup(referrer.code)
        clock.move_to(moscow(2026, 3, 3, 12))
        first_visit(f1)
        clock.move_to(moscow(2026, 3, 4, 12))
        first_visit(m5)
        clock.move_to(moscow(2026, 3, 5, 12))
        signup(referrer.code)  # f2
        clock.move_to(moscow(2026, 3, 10, 12))
        f3 = signup(referrer.code)
        clock.move_to(moscow(2026, 3, 12, 12))
        refunded = first_visit(f3)
        clock.move_to(moscow(2026, 3, 13, 12))
        member_services.visit_refund(visit=refunded)
        clock.move_to(moscow(2026, 4, 1, 12))
        extra_refresh(date(2026, 1, 1), date(2026, 3, 31))
    statuses = dict(Referral.objects.values_list("referee_id", "status"))
    assert statuses[f1.pk] == statuses[f4.pk] == Referral.Status.REWARDED
    assert statuses[f3.pk] == Referral.Status.ANNULLED
    return referrer


def test_referrals_of_a_known_month(referrals):
    board = dashboard_referrals(MARCH)
    kpis = _kpis(board)

    assert kpis["referral_invites"].value == 3  # f1, f2, f3
    assert kpis["referral_conversion"].value == D("0.3333")  # f1 only
    # New in March: f4, m5, f1 (f3's only visit was refunded).
    assert kpis["referral_new_clients"].value == 2
    assert kpis["referral_share"].value == D("0.6667")
    assert (kpis["referral_share"].numerator, kpis["referral_share"].denominator) == (
        2,
        3,
    )
    # f1 and f4 rewarded in March: 4 × 500 points at 1.00.
    assert kpis["referral_cost"].value == D("2000.00")
    assert kpis["referral_cost_per_client"].value == D("1000.00")

    (table,) = board.tables
    assert table.rows == [
        {
            "month": date(2026, 3, 1),
            "invites": 3,
            "converted": 1,
            "conversion": D("0.3333"),
            "referred": 2,
            "new_members": 3,
            "share": D("0.6667"),
            "cost": D("2000.00"),
            "cost_per_client": D("1000.00"),
        }
    ]


def test_referrals_in_february_and_a_location_nobody_registered_at(referrals, location):
    february = _kpis(dashboard_referrals(Filters(date(2026, 2, 1), date(2026, 2, 28))))
    assert february["referral_invites"].value == 1  # f4
    assert february["referral_conversion"].value == D("1.0000")
    assert february["referral_new_clients"].value == 0
    assert february["referral_share"].value is None
    assert february["referral_cost_per_client"].value is None

    there = _kpis(
        dashboard_referrals(Filters(MARCH.date_from, MARCH.date_to, location.pk))
    )
    assert there["referral_invites"].value == 0
    assert there["referral_cost"].value == D("0.00")


# --- Campaigns ------------------------------------------------------------------


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_campaigns_of_a_known_dataset(at_now, dataset):  # noqa: F811
    period = Filters(NOW.date() - timedelta(days=30), NOW.date())
    board = dashboard_campaigns(period)
    kpis = _kpis(board)

    # As campaigns.results measures it (tests/campaigns/test_results.py).
    assert kpis["campaigns_measured"].value == 1
    assert kpis["campaign_reach"].value == 4
    assert kpis["campaign_incremental_revenue"].value == D("2833.33")
    assert kpis["campaign_cost"].value == D("510.00")
    assert kpis["campaign_roi"].value == D("3.3333")
    assert kpis["campaign_roi"].numerator == D("1700.00")

    (table,) = board.tables
    (row,) = table.rows
    assert row["campaign"] == "Win-back"
    assert (row["reach"], row["delivered"], row["control"]) == (4, 2, 3)
    assert row["conversion"] == D("0.7500")
    assert row["uplift"] == D("0.4167")
    assert (row["incremental_revenue"], row["cost"], row["roi"]) == (
        D("2833.33"),
        D("510.00"),
        D("3.3333"),
    )
    assert row["data"].startswith("Not enough data yet")
    assert any("not have enough data" in n for n in board.notes)


def test_campaigns_before_any_enrollment(at_now, dataset):  # noqa: F811
    period = Filters(NOW.date() - timedelta(days=90), NOW.date() - timedelta(days=1))
    board = dashboard_campaigns(period)
    kpis = _kpis(board)
    assert kpis["campaigns_measured"].value == 0
    assert kpis["campaign_roi"].value is None
    assert board.tables[0].rows == []


def test_the_campaigns_results_as_of_the_periods_end(at_now, dataset):  # noqa: F811
    # Enrolled and first sent at S, 20 days ago; a period of S's first three
    # days sees the visits up to its end only: t1's (S + 1 day) and t4's
    # (S + 2 days) in the treatment, none yet in the control (c1: S + 3 days).
    Enrollment.objects.update(enrolled_at=S)
    start = S.astimezone(MOSCOW).date()
    board = dashboard_campaigns(Filters(start, start + timedelta(days=2)))

    (row,) = board.tables[0].rows
    assert row["reach"] == 4
    assert row["conversion"] == D("0.5000")
    assert row["control_conversion"] == D("0.0000")
