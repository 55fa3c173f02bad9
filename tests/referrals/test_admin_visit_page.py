"""The visit page's referral panel, and the whole page of a rich visit.

Olga invites Boris; Boris's first paid visit qualifies the referral (shipped
terms: 500 points to each). The rich visit: Boris, put on Silver (10% off)
with 1 000 points and a 500.00-off voucher, buys a massage and two add-ons
at the checkout, pays 200 of it with points, and an add-on is refunded.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from members import services as member_services
from members.services import VisitLineInput
from rewards.models import LedgerEntry
from rewards.services import checkout_commit, reward_redeem
from tests.factories import RewardFactory
from tests.referrals.conftest import referral_of
from tests.rewards.conftest import give_points, tier_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def boris(referral_defaults, referrer, signup):
    return signup(referrer.code, first_name="Boris", last_name="Ivanov")


def page_of(client, visit) -> str:
    response = client.get(reverse("admin:members_visit_change", args=[visit.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_first_paid_visit_shows_the_referral_it_qualified(
    front_desk_client, referrer, boris, first_visit
):
    visit = first_visit(boris)
    referral = referral_of(boris)

    page = page_of(front_desk_client, visit)

    assert referral.status == "rewarded"
    referral_url = reverse("admin:referrals_referral_change", args=[referral.pk])
    referrer_url = reverse("admin:members_member_change", args=[referrer.pk])
    assert (
        f'it qualified <a href="{referral_url}">referral #{referral.pk}</a>, '
        f'an invitation from <a href="{referrer_url}">Olga Petrova</a>'
    ) in page
    assert "Rewarded" in page
    assert "500 points to the referrer, 500 points to the friend" in page


def test_a_later_visit_shows_no_referral(front_desk_client, boris, first_visit):
    first_visit(boris)
    later = first_visit(boris)

    page = page_of(front_desk_client, later)

    assert 'id="visit-referral"' not in page


def test_the_analyst_sees_the_referral_too(analyst_client, boris, first_visit):
    visit = first_visit(boris)

    page = page_of(analyst_client, visit)

    assert f"referral #{referral_of(boris).pk}" in page


@pytest.fixture
def rich_visit(boris, location, service, addon):
    """Boris's first checkout, on Silver, with a voucher and points; an add-on
    refunded afterwards."""
    tier_set(boris, "silver")
    give_points(boris, 1000)
    voucher = reward_redeem(
        member=boris,
        reward=RewardFactory(name="500 off", fixed=True, points_cost=100),
        idempotency_key="voucher",
    )
    visit = checkout_commit(
        member=boris,
        location=location,
        lines=[
            VisitLineInput(service=service),
            VisitLineInput(service=addon, quantity=2),
        ],
        external_id="form-token-77",
        voucher_codes=[voucher.code],
        points_to_use=200,
    ).visit
    visit.voucher = voucher
    visit.refund = member_services.visit_refund_partial(
        visit=visit,
        lines=[(visit.lines.get(service=addon), 1)],
        key="r1",
        reason="Allergy",
    )
    return visit


def test_the_whole_page_of_a_rich_visit_in_a_fixed_number_of_queries(
    manager_client, boris, rich_visit, django_assert_max_num_queries
):
    visit, voucher = rich_visit, rich_visit.voucher
    earn = LedgerEntry.objects.get(visit=visit, kind="earn")
    referral = referral_of(boris)
    page_of(manager_client, visit)  # the session is read and saved once

    # When the manager opens the visit
    with django_assert_max_num_queries(13):
        page = page_of(manager_client, visit)

    # Then the page shows all of it
    assert "Recorded at the checkout" in page and "form-token-77" not in page
    assert "Silver tier discount 10%" in page
    assert f"Voucher {voucher.code}: 500 off" in page
    assert "200 points (200.00\xa0₽)" in page
    assert visit.amount_paid == Decimal("2900.00")
    assert "2,900\xa0₽" in page
    assert (
        f"Points used: <strong>200</strong> · points earned: "
        f"<strong>{earn.amount}</strong>"
    ) in page
    assert reverse("admin:rewards_ledgerentry_change", args=[earn.pk]) in page
    assert reverse("admin:rewards_voucher_change", args=[voucher.pk]) in page
    assert f"Aromatherapy add-on × 1 ({visit.refund.amount}\xa0₽)" in page
    assert "Allergy" in page
    assert reverse("admin:referrals_referral_change", args=[referral.pk]) in page
    assert "Refund some lines" in page


def test_the_analyst_reads_the_rich_visit_without_the_refund(
    analyst_client, boris, rich_visit
):
    page = page_of(analyst_client, rich_visit)

    for text in (
        "Silver tier discount 10%",
        "Points used: <strong>200</strong>",
        rich_visit.voucher.code,
        "Allergy",
        f"referral #{referral_of(boris).pk}",
    ):
        assert text in page
    assert "Refund some lines" not in page
    assert 'name="_save"' not in page
