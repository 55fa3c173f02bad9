"""The visit's admin page and its "Refund some lines" page, as staff read them.

The visits: a 3 000.00 massage and three 500.00 aroma add-ons (4 500.00), of
which 4 000.00 was paid in money (the rest went on discounts and points).
The rewards and referral panels are tested in tests/rewards and
tests/referrals.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from members import services
from members.models import Visit, VisitRefund
from members.services import VisitLineInput

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(member, record_visit, service, addon):
    return record_visit(
        member,
        lines=[
            VisitLineInput(service=service),
            VisitLineInput(service=addon, quantity=3),
        ],
        amount_paid="4000",
    )


def page_of(client, visit) -> str:
    response = client.get(reverse("admin:members_visit_change", args=[visit.pk]))
    assert response.status_code == 200
    return response.content.decode()


def refund_page_of(client, visit) -> str:
    response = client.get(reverse("admin:members_visit_refund_lines", args=[visit.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --- The external id, said for what it is ---------------------------------------


def test_a_checkout_visit_says_so_and_hides_the_form_token(
    front_desk_client, member, record_visit
):
    visit = record_visit(
        member, source=Visit.Source.ADMIN, external_id="8c1f0d2e9b7a4c55"
    )

    page = page_of(front_desk_client, visit)

    assert "Recorded at the checkout" in page
    assert "8c1f0d2e9b7a4c55" not in page


@pytest.mark.parametrize(
    "source, label",
    [
        (Visit.Source.POS, "Booking id in the POS:"),
        (Visit.Source.IMPORT, "Id in the imported data:"),
    ],
)
def test_a_booking_id_is_labelled_by_its_source(
    front_desk_client, member, record_visit, source, label
):
    visit = record_visit(member, source=source, external_id="BK-2291")

    page = page_of(front_desk_client, visit)

    assert f"{label} <code>BK-2291</code>" in page
    assert "Recorded at the checkout" not in page


# --- Lines and refunds -------------------------------------------------------------


def test_the_lines_show_quantities_prices_and_the_service_price_changed(
    front_desk_client, member, record_visit, service, addon
):
    visit = record_visit(
        member,
        lines=[
            VisitLineInput(service=service, price=Decimal("2700.00")),
            VisitLineInput(service=addon, quantity=3),
        ],
    )

    page = page_of(front_desk_client, visit)

    lines = page[page.index('id="lines-group"') : page.index('id="refunds-group"')]
    assert "Classic massage, 60 min" in lines and "Aromatherapy add-on" in lines
    assert "2,700\xa0₽" in lines  # charged
    assert "3,000\xa0₽" in lines  # the service's price, as it differs
    assert "1,500\xa0₽" in lines  # 3 × 500
    assert lines.count("—") == 1  # the add-on's price is the service's


def test_the_refunds_show_lines_amounts_reasons_and_who(manager_client, visit):
    massage, aroma = visit.lines.order_by("pk")
    services.visit_refund_partial(
        visit=visit,
        lines=[(aroma, 2)],
        key="r1",
        reason="Allergy",
        actor=manager_client.user,
    )
    services.visit_refund_partial(
        visit=visit, lines=[(massage, 1)], key="r2", reason="Therapist ill"
    )

    page = page_of(manager_client, visit)

    refunds = page[page.index('id="refunds-group"') :]
    assert "Aromatherapy add-on × 2 (888.89\xa0₽)" in refunds
    assert "Classic massage, 60 min × 1 (2,666.67\xa0₽)" in refunds
    assert "Allergy" in refunds and "Therapist ill" in refunds
    assert ">manager<" in refunds


# --- "Refund some lines": what comes back ------------------------------------------


def test_the_refund_form_shows_the_money_back_per_unit_not_the_price(
    manager_client, visit
):
    page = refund_page_of(manager_client, visit)

    # 4000 × 3000 / 4500 and 4000 × 500 / 4500
    assert "1 of 1 left; 2,666.67\xa0₽ back per unit" in page
    assert "3 of 3 left; 444.44\xa0₽ back per unit" in page
    assert "500.00 each" not in page


def test_the_money_shown_is_what_the_refund_returns(manager_client, visit):
    _massage, aroma = visit.lines.order_by("pk")
    url = reverse("admin:members_visit_refund_lines", args=[visit.pk])
    form = manager_client.get(url).context["form"]

    response = manager_client.post(
        url,
        {
            "key": form.initial["key"],
            f"line_{aroma.pk}": "1",
            f"line_{_massage.pk}": "0",
            "reason": "Allergy",
        },
    )

    assert response.status_code == 302
    assert VisitRefund.objects.get(visit=visit).amount == Decimal("444.44")


def test_the_last_unit_shows_all_that_is_left(
    manager_client, member, record_visit, service
):
    """Three units of 1 000.00 paid 1 000.00: 333.33 each, and the last one
    the kopeck the rounding kept (what its refund will return)."""
    visit = record_visit(
        member,
        lines=[VisitLineInput(service=service, quantity=3, price=Decimal("1000"))],
        amount_paid="1000",
    )
    (line,) = visit.lines.all()
    assert "3 of 3 left; 333.33\xa0₽ back per unit" in refund_page_of(
        manager_client, visit
    )

    for key in ("r1", "r2"):
        services.visit_refund_partial(visit=visit, lines=[(line, 1)], key=key)

    assert "1 of 3 left; 333.34\xa0₽ back per unit" in refund_page_of(
        manager_client, visit
    )


def test_refund_unit_amounts_leaves_out_lines_refunded_in_full(visit):
    massage, aroma = visit.lines.order_by("pk")
    services.visit_refund_partial(visit=visit, lines=[(massage, 1)], key="r1")
    visit.refresh_from_db()

    amounts = services.refund_unit_amounts(
        visit=visit, lines=list(visit.lines.order_by("pk"))
    )

    assert amounts == {aroma.pk: Decimal("444.44")}


# --- Who sees it -------------------------------------------------------------------


def test_the_analyst_sees_the_whole_visit_read_only(analyst_client, visit):
    _massage, aroma = visit.lines.order_by("pk")
    services.visit_refund_partial(
        visit=visit, lines=[(aroma, 1)], key="r1", reason="Allergy"
    )

    page = page_of(analyst_client, visit)

    assert "Aromatherapy add-on" in page
    assert "Aromatherapy add-on × 1 (444.44\xa0₽)" in page
    assert "Recorded at the checkout" in page
    assert "Refund some lines" not in page
    assert 'name="_save"' not in page
    refund_url = reverse("admin:members_visit_refund_lines", args=[visit.pk])
    assert analyst_client.get(refund_url).status_code == 403


def test_the_front_desk_is_not_offered_refunds(front_desk_client, visit):
    page = page_of(front_desk_client, visit)

    assert "Refund some lines" not in page


def test_a_refunded_visit_offers_no_partial_refund(manager_client, visit):
    services.visit_refund(visit=visit, reason="Complaint")

    page = page_of(manager_client, visit)

    assert "Refund some lines" not in page
    assert "Complaint" in page
