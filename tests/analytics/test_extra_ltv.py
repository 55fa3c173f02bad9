"""The LTV dashboard and the marketing spend: known answers on a small
program of three members with visits, and the spend's admin."""

from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from django.core.exceptions import ValidationError

from analytics.aggregates_extra import extra_refresh
from analytics.models import MarketingSpend
from analytics.selectors_extra import dashboard_ltv
from analytics.services_extra import marketing_spend_save
from analytics.tables import Filters
from campaigns.scores import scores_refresh
from members.models import Member
from members.services import VisitLineInput
from rewards.models import Tier, Wallet
from tests.conftest import error_codes, moscow
from tests.factories import LocationFactory, MemberFactory, TierFactory

pytestmark = pytest.mark.django_db

Q1 = Filters(date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(moscow(2026, 4, 1, 12), tick=False):
        yield


@pytest.fixture
def program(location, service, record_visit):
    """m1 (referral, here, gold): 1000 in January and 2000 in March;
    m2 (app, here, base tier): 4000 in February 2025 and 1000 in February 2026;
    m3 (till, elsewhere, gold): 600 in March; m4: never came.
    Spend: 900 in January, 1000 in March, nothing entered for February."""
    other = LocationFactory(name="Tverskaya", code="tver")
    gold = TierFactory(name="Gold", code="gold")
    base = Tier.objects.get(rank=0)
    via = Member.JoinedVia
    m1 = MemberFactory(joined_via=via.REFERRAL, registration_location=location)
    m2 = MemberFactory(joined_via=via.APP, registration_location=location)
    m3 = MemberFactory(joined_via=via.TILL, registration_location=other)
    MemberFactory(joined_via=via.IMPORT, registration_location=location)
    for member, when, paid in [
        (m1, moscow(2026, 1, 10, 12), "1000"),
        (m1, moscow(2026, 3, 5, 12), "2000"),
        (m2, moscow(2025, 2, 1, 12), "4000"),
        (m2, moscow(2026, 2, 10, 12), "1000"),
        (m3, moscow(2026, 3, 20, 12), "600"),
    ]:
        record_visit(
            member,
            paid_at=when,
            amount_paid=D(paid),
            lines=[VisitLineInput(service=service, price=D(paid))],
        )
    for member, tier in [(m1, gold), (m2, base), (m3, gold)]:
        Wallet.objects.update_or_create(member=member, defaults={"tier": tier})
    scores_refresh(date(2026, 4, 1))
    marketing_spend_save(month=date(2026, 1, 1), amount=D("900"))
    marketing_spend_save(month=date(2026, 3, 15), amount=D("1000"), note="Radio")
    extra_refresh(date(2026, 1, 1), date(2026, 3, 31))
    return {"gold": gold, "base": base, "here": location, "other": other}


def _kpis(dashboard):
    return {k.key: k for k in dashboard.kpis}


def _table(dashboard, key):
    return next(t for t in dashboard.tables if t.key == key)


def test_ltv_and_cac_of_a_known_program(program):
    board = dashboard_ltv(Q1)
    kpis = _kpis(board)

    # Lifetime: 3000 + 5000 + 600 over three members with a visit.
    assert kpis["ltv_lifetime"].value == D("2866.67")
    assert (kpis["ltv_lifetime"].numerator, kpis["ltv_lifetime"].denominator) == (
        D("8600.00"),
        3,
    )
    # 12 months to 1 April 2026: 3000 + 1000 + 600 (m2's 2025 visit is out).
    assert kpis["ltv_12m"].value == D("1533.33")
    # CAC: (900 + 1000) ÷ the new members of January and March (m1, m3).
    assert kpis["cac"].value == D("950.00")
    assert (kpis["cac"].numerator, kpis["cac"].denominator) == (D("1900"), 2)
    assert kpis["ltv_to_cac"].value == D("3.0175")  # 2866.67 / 950

    months = _table(board, "cac_by_month").rows
    assert months == [
        {
            "month": date(2026, 1, 1),
            "spend": D("900.00"),
            "new_members": 1,
            "cac": D("900.00"),
            "ltv_lifetime": D("3000.00"),
        },
        {
            "month": date(2026, 2, 1),
            "spend": None,
            "new_members": 0,
            "cac": None,
            "ltv_lifetime": None,
        },
        {
            "month": date(2026, 3, 1),
            "spend": D("1000.00"),
            "new_members": 1,
            "cac": D("1000.00"),
            "ltv_lifetime": D("600.00"),
        },
    ]

    by_tier = {r["group"]: r for r in _table(board, "ltv_by_tier").rows}
    assert by_tier[program["gold"].name]["members"] == 2
    assert by_tier[program["gold"].name]["ltv_lifetime"] == D("1800.00")
    assert by_tier[program["gold"].name]["ltv_12m"] == D("1800.00")
    assert by_tier[program["base"].name]["ltv_lifetime"] == D("5000.00")
    assert by_tier[program["base"].name]["ltv_12m"] == D("1000.00")
    assert [r["group"] for r in _table(board, "ltv_by_tier").rows] == [
        program["base"].name,
        program["gold"].name,
    ]

    by_source = [
        (r["group"], r["members"], r["ltv_lifetime"])
        for r in _table(board, "ltv_by_source").rows
    ]
    assert by_source == [
        ("Till", 1, D("600.00")),
        ("App", 1, D("5000.00")),
        ("Referral", 1, D("3000.00")),
    ]


def test_the_location_and_tier_filters(program):
    here = dashboard_ltv(
        Filters(Q1.date_from, Q1.date_to, location_id=program["here"].pk)
    )
    assert _kpis(here)["ltv_lifetime"].value == D("4000.00")  # m1 and m2
    assert _kpis(here)["cac"].value == D("950.00")  # CAC: the whole program

    gold = dashboard_ltv(Filters(Q1.date_from, Q1.date_to, tier_id=program["gold"].pk))
    assert _kpis(gold)["ltv_lifetime"].value == D("1800.00")
    assert _kpis(gold)["ltv_12m"].numerator == D("3600.00")


def test_no_spend_no_cac(location, record_visit):
    record_visit(MemberFactory(), paid_at=moscow(2026, 3, 1, 12))
    extra_refresh(date(2026, 3, 1), date(2026, 3, 31))

    kpis = _kpis(dashboard_ltv(Q1))
    assert kpis["cac"].value is None
    assert kpis["ltv_to_cac"].value is None
    assert kpis["ltv_lifetime"].value == D("3000.00")


def test_a_month_is_stored_as_its_first_day_and_entered_once():
    spend = marketing_spend_save(month=date(2026, 5, 17), amount=D("10"))
    assert spend.month == date(2026, 5, 1)

    with pytest.raises(ValidationError) as caught:
        marketing_spend_save(month=date(2026, 5, 2), amount=D("20"))
    assert "unique" in error_codes(caught.value)


def test_a_negative_spend_is_refused():
    with pytest.raises(ValidationError) as caught:
        marketing_spend_save(month=date(2026, 5, 1), amount=D("-1"))
    assert "amount" in caught.value.error_dict
    assert not MarketingSpend.objects.exists()


def test_the_manager_enters_spend_in_the_admin(manager_client):
    url = "/admin/analytics/marketingspend/add/"
    bad = manager_client.post(url, {"month": "2026-05-01", "amount": "-5"})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["amount"]
    assert not MarketingSpend.objects.exists()

    good = manager_client.post(
        url, {"month": "2026-05-09", "amount": "1500.50", "note": "Flyers"}
    )
    assert good.status_code == 302
    spend = MarketingSpend.objects.get()
    assert (spend.month, spend.amount, spend.note) == (
        date(2026, 5, 1),
        D("1500.50"),
        "Flyers",
    )
    assert spend.entered_by == manager_client.user

    again = manager_client.post(url, {"month": "2026-05-20", "amount": "1"})
    assert again.status_code == 200
    assert MarketingSpend.objects.count() == 1


def test_the_analyst_reads_spend_and_cannot_enter_it(analyst_client):
    marketing_spend_save(month=date(2026, 5, 1), amount=D("10"))
    listing = "/admin/analytics/marketingspend/"
    assert analyst_client.get(listing).status_code == 200
    assert analyst_client.get(listing + "add/").status_code == 403


def test_the_front_desk_sees_no_spend(front_desk_client):
    listing = "/admin/analytics/marketingspend/"
    assert front_desk_client.get(listing).status_code == 403


def test_a_fixed_number_of_queries(program, django_assert_num_queries):
    # Totals; spend and new members by month; sums by tier and the tiers;
    # sums by how they joined.
    with django_assert_num_queries(6):
        dashboard_ltv(Filters(date(2020, 1, 1), date(2026, 3, 31)))
