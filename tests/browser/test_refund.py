"""A manager refunds some lines of a visit in a real browser.

The visit: one 3 000.00 massage and three 500.00 aroma add-ons (4 500.00
gross), 4 000.00 paid in money. Two add-ons give back 2 × 4000 × 500 / 4500
= 888.89.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Visit, VisitRefund
from members.services import VisitLineInput
from tests.browser.conftest import expect, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def visit(program_defaults, member, record_visit, service, addon):
    return record_visit(
        member,
        lines=[
            VisitLineInput(service=service),
            VisitLineInput(service=addon, quantity=3),
        ],
        amount_paid="4000",
        paid_at=timezone.now() - timedelta(hours=2),
    )


def test_a_manager_refunds_some_lines(manager, visit):
    page = manager
    change_url = reverse("admin:members_visit_change", args=[visit.pk])
    page.goto(change_url)

    # The visit's page offers "Refund some lines"
    page.get_by_role("link", name="Refund some lines").click()
    page.wait_for_url(
        f"**{reverse('admin:members_visit_refund_lines', args=[visit.pk])}"
    )
    content = page.locator("#content")
    expect(content).to_contain_text(re.compile(r"Anna Smirnova paid 4,?000"))

    # Two of the three add-ons, with a reason
    massage = page.get_by_label("Classic massage, 60 min × 1")
    aroma = page.get_by_label("Aromatherapy add-on × 3")
    expect(massage).to_have_value("0")
    aroma.fill("2")
    page.get_by_label("Reason").fill("Allergy")
    snapshot(page, "refund-lines")
    page.get_by_role("button", name="Refund", exact=True).click()

    # Back on the visit's page: the message, and the refund in its list
    page.wait_for_url(f"**{change_url}")
    expect(page.locator(".messagelist")).to_contain_text(
        re.compile(rf"888\.89\D*refunded on visit #{visit.pk}\b")
    )
    refunds = page.locator("#refunds-group tbody tr.form-row")
    expect(refunds).to_have_count(1)
    expect(refunds).to_contain_text("888.89")
    expect(refunds).to_contain_text("Aromatherapy add-on × 2")
    expect(refunds).to_contain_text("Allergy")
    lines = page.locator("#lines-group tbody tr.form-row")
    expect(lines.nth(1)).to_contain_text("Aromatherapy add-on")
    expect(lines.nth(1).locator("td.field-refunded_quantity")).to_have_text("2")
    # Still paid: the massage and one add-on can be refunded later
    expect(page.get_by_role("link", name="Refund some lines")).to_be_visible()
    snapshot(page, "refund-done")

    refund = VisitRefund.objects.get(visit=visit)
    assert (refund.amount, refund.reason, refund.created_by) == (
        Decimal("888.89"),
        "Allergy",
        page.user,
    )
    visit.refresh_from_db()
    assert (visit.status, visit.amount_refunded) == (
        Visit.Status.PAID,
        Decimal("888.89"),
    )
    assert list(
        visit.lines.order_by("pk").values_list("refunded_quantity", flat=True)
    ) == [0, 2]
