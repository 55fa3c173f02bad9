"""The visit page's rewards panels: the benefits that priced the visit, the
points it used and earned (and what a refund took back), its vouchers.

The visit: Anna, a Silver member (10% off, ×1.25 points) with 1 000 points and
a voucher for 500.00 off, buys a 3 000.00 massage and two 500.00 add-ons
(4 000.00) at the checkout and pays 200 of it with points.
"""

from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from members import services as members_services
from members.services import VisitLineInput
from rewards.models import LedgerEntry, Voucher
from rewards.services import checkout_commit, reward_redeem
from rewards.services.price_changes import PriceAuthority
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import give_points, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def anna(db):
    member = MemberFactory(first_name="Anna", last_name="Smirnova")
    tier_set(member, "silver")
    give_points(member, 1000)
    return member


@pytest.fixture
def voucher(anna):
    return reward_redeem(
        member=anna,
        reward=RewardFactory(name="500 off", fixed=True, points_cost=100),
        idempotency_key="voucher",
    )


@pytest.fixture
def visit(anna, voucher, location, service, addon):
    return checkout_commit(
        member=anna,
        location=location,
        lines=[
            VisitLineInput(service=service),
            VisitLineInput(service=addon, quantity=2),
        ],
        external_id="form-token-4f1c",
        voucher_codes=[voucher.code],
        points_to_use=200,
    ).visit


def page_of(client, visit) -> str:
    response = client.get(reverse("admin:members_visit_change", args=[visit.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_every_benefit_with_its_explanation(
    front_desk_client, visit, voucher
):
    page = page_of(front_desk_client, visit)

    # Then each benefit, explained as at the checkout, with its amount
    assert "Price and benefits" in page
    assert "Total of the lines" in page and "4,000\xa0₽" in page
    assert "Silver tier discount 10%" in page
    assert "−400\xa0₽" in page
    assert f"Voucher {voucher.code}: 500 off" in page
    assert "200 points (200.00\xa0₽)" in page
    assert "Paid with points" in page
    # The voucher benefit links to the voucher
    voucher_url = reverse("admin:rewards_voucher_change", args=[voucher.pk])
    assert f'href="{voucher_url}"' in page
    assert "Paid in money" in page
    assert "2,900\xa0₽" in page


def test_the_page_shows_points_used_and_earned_linked_to_the_ledger(
    front_desk_client, visit
):
    spend = LedgerEntry.objects.get(visit=visit, kind="spend")
    earn = LedgerEntry.objects.get(visit=visit, kind="earn")

    page = page_of(front_desk_client, visit)

    assert spend.amount == -200 and earn.amount > 0
    assert (
        f"Points used: <strong>200</strong> · points earned: "
        f"<strong>{earn.amount}</strong>"
    ) in page
    for entry in (spend, earn):
        url = reverse("admin:rewards_ledgerentry_change", args=[entry.pk])
        assert f'<a href="{url}">#{entry.seq}</a>' in page
    assert "200 points paid 200.00 of the visit on 10 June 2025" in page
    assert f"{earn.amount} points for the visit on 10 June 2025" in page


def test_the_page_links_the_voucher_used(front_desk_client, visit, voucher):
    page = page_of(front_desk_client, visit)

    url = reverse("admin:rewards_voucher_change", args=[voucher.pk])
    assert f'<a class="rw-code" href="{url}">{voucher.code}</a>' in page
    assert "Used on this visit" in page
    assert "Bought with points" in page


def test_a_partial_refund_shows_the_points_it_took_back(manager_client, visit, addon):
    line = visit.lines.get(service=addon)
    refund = members_services.visit_refund_partial(
        visit=visit,
        lines=[(line, 1)],
        key="r1",
        reason="Allergy",
        actor=manager_client.user,
    )

    page = page_of(manager_client, visit)

    taken = LedgerEntry.objects.get(visit=visit, reason="reverse_partial")
    url = reverse("admin:rewards_ledgerentry_change", args=[taken.pk])
    assert f'<a href="{url}">#{taken.seq}</a>' in page
    assert "part of the visit on 10 June 2025 was refunded" in page
    # And the refund itself: its line and money, why and by whom
    assert f"Aromatherapy add-on × 1 ({refund.amount}\xa0₽)" in page
    assert "Allergy" in page
    assert "manager" in page


def test_a_cancelled_visit_shows_its_voucher_given_back(manager_client, visit, voucher):
    members_services.visit_cancel(visit=visit, reason="Booked by mistake")

    page = page_of(manager_client, visit)

    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ACTIVE and voucher.visit is None
    url = reverse("admin:rewards_voucher_change", args=[voucher.pk])
    assert f'href="{url}"' in page
    assert "(given back: the visit was cancelled)" in page
    assert "Used on this visit" not in page


def test_the_analyst_sees_the_rewards_read_only(analyst_client, visit, voucher):
    page = page_of(analyst_client, visit)

    assert "Silver tier discount 10%" in page
    assert "Points used: <strong>200</strong>" in page
    assert voucher.code in page
    assert "Refund some lines" not in page
    assert 'name="_save"' not in page


def test_a_changed_price_shows_the_service_price_and_the_reason(
    front_desk_client, anna, location, service
):
    visit = checkout_commit(
        member=anna,
        location=location,
        lines=[
            VisitLineInput(
                service=service, price=Decimal("2700"), price_reason="<b>Courtesy</b>"
            )
        ],
        price_authority=PriceAuthority.ANY,
    ).visit

    page = page_of(front_desk_client, visit)

    lines = page[page.index('id="lines-group"') : page.index('id="refunds-group"')]
    assert "2,700\xa0₽" in lines
    assert '3,000\xa0₽ <span class="help">&lt;b&gt;Courtesy&lt;/b&gt;</span>' in lines


def test_a_visit_without_benefits_says_so(front_desk_client, anna, record_visit):
    visit = record_visit(MemberFactory())

    page = page_of(front_desk_client, visit)

    assert "No discounts, vouchers or points on this visit." in page
    assert "No vouchers used on this visit." in page
    assert visit.amount_paid == Decimal("3000.00")


def test_the_page_reads_a_fixed_number_of_queries(
    front_desk_client,
    visit,
    addon,
    django_assert_max_num_queries,
    django_assert_num_queries,
):
    """However many lines, benefits, entries and refunds the visit has."""
    line = visit.lines.get(service=addon)
    members_services.visit_refund_partial(visit=visit, lines=[(line, 1)], key="r1")
    page_of(front_desk_client, visit)  # the session is read and saved once

    with django_assert_max_num_queries(13) as first:
        page_of(front_desk_client, visit)
    members_services.visit_refund_partial(visit=visit, lines=[(line, 1)], key="r2")
    with django_assert_num_queries(len(first)):
        page = page_of(front_desk_client, visit)

    assert page.count("Aromatherapy add-on × 1 (") == 2
