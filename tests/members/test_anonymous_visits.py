"""Anonymous visits in the members app: a visit without a member.

Recorded with its lines and money, it touches no member's stats and runs no
visit reaction (no points, tiers, referrals, promotions); cancelling and
refunding it (whole or some lines) move the money only. The admin's visit list
and page say "Anonymous", and the list filters members' visits from anonymous
ones. The POS API's side: tests/rewards/test_anonymous_visits_pos.py.
"""

from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse

from members import exports, services
from members.models import Visit, VisitRefund
from members.money import money_text
from members.services import VisitLineInput
from rewards.models import LedgerEntry, Wallet
from tests.conftest import moscow, stats_of

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def sale(location, service, addon):
    """An anonymous visit: a 3 000.00 massage and two 500.00 add-ons."""
    return services.visit_record(
        member=None,
        location=location,
        lines=[VisitLineInput(service=service), VisitLineInput(addon, quantity=2)],
        paid_at=moscow(2025, 6, 10, 12, 0),
        source=Visit.Source.POS,
        external_id="S-1",
    ).visit


@pytest.fixture
def members_visit(member, record_visit):
    return record_visit(member, paid_at=moscow(2025, 6, 1, 12, 0))


# --- Services --------------------------------------------------------------------


def test_an_anonymous_visit_is_recorded_with_its_money_and_nothing_else(
    member, members_visit, sale
):
    before = stats_of(member)

    assert sale.member_id is None
    assert (sale.total, sale.amount_paid) == (Decimal("4000.00"),) * 2
    assert sale.lines.count() == 2
    assert (
        stats_of(member)
        == before
        == (
            1,
            Decimal("3000.00"),
            members_visit.paid_at,
            members_visit.paid_at,
        )
    )
    # The rewards reaction ran for the member's visit only
    assert set(LedgerEntry.objects.values_list("member_id", flat=True)) == {member.pk}
    assert not LedgerEntry.objects.filter(visit=sale).exists()
    assert Wallet.objects.count() == 1


def test_recording_it_again_is_a_replay(sale, location, service, addon):
    again = services.visit_record(
        member=None,
        location=location,
        lines=[VisitLineInput(service=service), VisitLineInput(addon, quantity=2)],
        paid_at=moscow(2025, 6, 10, 12, 0),
        source=Visit.Source.POS,
        external_id="S-1",
    )

    assert again.created is False
    assert again.visit == sale
    assert Visit.objects.count() == 1


def test_a_members_booking_under_its_id_is_a_conflict(sale, member, location, service):
    with pytest.raises(ValidationError) as caught:
        services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service), VisitLineInput(service)],
            paid_at=moscow(2025, 6, 10, 12, 0),
            source=Visit.Source.POS,
            external_id="S-1",
        )

    assert caught.value.error_dict["external_id"][0].code == "external_id_conflict"
    assert stats_of(member)[0] == 0


@pytest.mark.parametrize("undo", [services.visit_cancel, services.visit_refund])
def test_cancelling_or_refunding_it_changes_its_status_only(
    undo, member, members_visit, sale
):
    before = stats_of(member)

    visit = undo(visit=sale, reason="Mistake")

    assert visit.status in (Visit.Status.CANCELLED, Visit.Status.REFUNDED)
    assert visit.status_reason == "Mistake"
    assert stats_of(member) == before
    assert not LedgerEntry.objects.filter(visit=sale).exists()


def test_a_partial_refund_returns_its_share_and_the_last_closes_it(sale):
    massage, aroma = sale.lines.order_by("pk")

    refund = services.visit_refund_partial(
        visit=sale, lines=[(aroma, 1)], key="r-1", reason="Allergy"
    )
    again = services.visit_refund_partial(visit=sale, lines=[(aroma, 1)], key="r-1")

    assert again == refund
    assert refund.amount == Decimal("500.00")
    sale.refresh_from_db()
    assert (sale.status, sale.amount_refunded) == (Visit.Status.PAID, Decimal("500.00"))

    services.visit_refund_partial(
        visit=sale, lines=[(massage, 1), (aroma, 1)], key="r-2"
    )

    sale.refresh_from_db()
    assert sale.status == Visit.Status.REFUNDED
    assert sale.amount_refunded == Decimal("4000.00")
    assert VisitRefund.objects.filter(visit=sale).count() == 2


def test_the_stats_repair_leaves_anonymous_visits_out(member, members_visit, sale):
    member.visits_count = 0
    member.save(update_fields=["visits_count"])

    repaired = services.member_stats_reconcile()

    assert repaired == 1
    assert stats_of(member)[:2] == (1, Decimal("3000.00"))
    assert services.member_stats_reconcile() == 0


def test_the_visit_export_leaves_an_anonymous_visits_phone_empty(
    member, members_visit, sale
):
    rows = list(exports.visit_rows(Visit.objects.all()))

    phones = {row[0]: row[3] for row in rows}
    assert phones[sale.pk] == ""
    assert phones[members_visit.pk] == member.phone.as_e164


# --- Admin -------------------------------------------------------------------------


def changelist(staff, params=None):
    response = staff.get(reverse("admin:members_visit_changelist"), params or {})
    assert response.status_code == 200
    return response


def test_the_visit_list_says_anonymous(manager_client, members_visit, sale):
    response = changelist(manager_client)

    page = response.content.decode()
    assert "<em>Anonymous</em>" in page
    assert "Anna Smirnova" in page


@pytest.mark.parametrize(
    ("client_filter", "expected"),
    [
        ("anonymous", {"sale"}),
        ("member", {"members_visit"}),
        (None, {"sale", "members_visit"}),
    ],
)
def test_the_visit_list_filters_members_and_anonymous(
    analyst_client, members_visit, sale, client_filter, expected
):
    named = {sale.pk: "sale", members_visit.pk: "members_visit"}
    params = {"client": client_filter} if client_filter else {}

    response = changelist(analyst_client, params)

    assert {named[v.pk] for v in response.context["cl"].result_list} == expected


def test_the_filter_is_offered_in_both_words(manager_client, sale):
    page = changelist(manager_client).content.decode()

    assert "?client=anonymous" in page
    assert "?client=member" in page


def test_the_visit_page_says_anonymous(front_desk_client, sale):
    response = front_desk_client.get(
        reverse("admin:members_visit_change", args=[sale.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "<em>Anonymous</em>" in page
    assert money_text(Decimal("4000.00")) in page


def test_a_members_visit_page_links_to_the_member(
    front_desk_client, member, members_visit
):
    response = front_desk_client.get(
        reverse("admin:members_visit_change", args=[members_visit.pk])
    )

    assert response.status_code == 200
    url = reverse("admin:members_member_change", args=[member.pk])
    assert f'<a href="{url}">Anna Smirnova</a>' in response.content.decode()


def test_the_cancel_action_cancels_an_anonymous_visit(front_desk_client, sale):
    url = reverse("admin:members_visit_changelist")
    data = {
        "action": "cancel_visits",
        "index": "0",
        ACTION_CHECKBOX_NAME: [str(sale.pk)],
    }

    asked = front_desk_client.post(url, data)
    done = front_desk_client.post(url, {**data, "apply": "1", "reason": "Typed twice"})

    assert asked.status_code == 200
    assert "Anonymous" in asked.content.decode()
    assert done.status_code == 302
    sale.refresh_from_db()
    assert sale.status == Visit.Status.CANCELLED
    assert sale.status_changed_by == front_desk_client.user


def test_the_refund_lines_page_refunds_an_anonymous_visit(manager_client, sale):
    _massage, aroma = sale.lines.order_by("pk")
    url = reverse("admin:members_visit_refund_lines", args=[sale.pk])
    page = manager_client.get(url)
    assert page.status_code == 200
    assert "An anonymous client paid" in page.content.decode()

    response = manager_client.post(
        url,
        {
            "key": page.context["form"].initial["key"],
            f"line_{aroma.pk}": "1",
            f"line_{_massage.pk}": "0",
            "reason": "Allergy",
        },
    )

    assert response.status_code == 302
    assert VisitRefund.objects.get(visit=sale).amount == Decimal("500.00")
