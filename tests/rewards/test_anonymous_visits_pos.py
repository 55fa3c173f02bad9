"""Anonymous visits at the POS: a sale to a client who is no member.

``"anonymous": true`` instead of a member records the visit at its lines'
prices for revenue: nothing earned, no member's stats, no visit reactions;
vouchers, promo codes and points are refused (``member_only``). It is
idempotent by ``external_id`` and cancelled and refunded like any visit.

Catalogue: massage 3000.00 (code classic-60) and aroma 500.00 (code aroma);
shipped program: 5 points per 100 paid.
"""

from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from members.models import Member, Visit, VisitRefund
from rewards.models import LedgerEntry, VisitBenefit, VisitReceipt, Wallet
from tests.conftest import moscow, stats_of
from tests.factories import LocationFactory, MemberFactory
from tests.rewards.conftest import give_points, row_counts
from tests.rewards.test_api_pos import codes, issue_voucher
from webhooks import services as webhook_services
from webhooks.models import Endpoint, Event

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
VISITS = reverse("pos-visits")
QUOTE = reverse("pos-quote")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def catalogue(service, addon):
    return service, addon


@pytest.fixture
def pos(pos_api, location):
    return pos_api(location)


def sale(external_id="S-1", **extra) -> dict:
    return {
        "anonymous": True,
        "external_id": external_id,
        "lines": [{"service": "classic-60"}],
        **extra,
    }


def cancel_url(external_id: str) -> str:
    return reverse("pos-visit-cancel", args=[external_id])


def refund_url(external_id: str) -> str:
    return reverse("pos-visit-refund", args=[external_id])


# --- Recording ------------------------------------------------------------------


def test_an_anonymous_sale_is_recorded_with_its_lines_and_earns_nothing(
    pos, location, service, addon
):
    # Given a member who is not part of the sale
    bystander = MemberFactory()
    before = stats_of(bystander)

    # When the till records a sale to a client who is no member
    response = pos.post(
        VISITS,
        sale(
            lines=[
                {"service": "classic-60"},
                {
                    "service": addon.pk,
                    "quantity": 2,
                    "price": "450.00",
                    "price_reason": "Loyal client",
                },
            ],
            payment_method="cash",
            paid_at="2025-06-10T14:30:00+03:00",
        ),
    )

    # Then it is a paid visit without a member, paid in full at its prices
    assert response.status_code == 201, response.json()
    visit = Visit.objects.get(external_id="S-1")
    assert visit.member_id is None
    assert visit.location == location
    assert visit.source == Visit.Source.POS
    assert (visit.total, visit.amount_paid) == (Decimal("3900.00"),) * 2
    assert visit.payment_method == "cash"
    assert [(ln.service_id, ln.quantity, ln.price, ln.price_reason)
            for ln in visit.lines.order_by("pk")] == [
        (service.pk, 1, Decimal("3000.00"), ""),
        (addon.pk, 2, Decimal("450.00"), "Loyal client"),
    ]  # fmt: skip
    # And the answer says it is anonymous and that nothing was earned
    body = response.json()
    assert body["anonymous"] is True
    assert body["member"] is None
    assert body["benefits"] == []
    assert (body["points_earned"], body["points_used"]) == (0, 0)
    assert body["tier_upgraded_to"] is None
    assert body["visit"]["amount_paid"] == "3900.00"
    assert [ln["amount"] for ln in body["visit"]["lines"]] == ["3000.00", "900.00"]
    # And nothing of the program moved
    assert not LedgerEntry.objects.exists()
    assert not VisitBenefit.objects.exists()
    assert not Wallet.objects.exists()
    assert stats_of(bystander) == before
    assert VisitReceipt.objects.filter(visit=visit).exists()


def test_a_members_visit_answers_that_it_is_not_anonymous(pos):
    member = MemberFactory()

    response = pos.post(
        VISITS,
        {
            "member_id": member.pk,
            "external_id": "B-1",
            "lines": [{"service": "classic-60"}],
        },
    )

    assert response.status_code == 201, response.json()
    assert response.json()["anonymous"] is False
    assert response.json()["member"]["id"] == member.pk


def test_a_retry_answers_the_same_body_and_records_nothing(pos):
    first = pos.post(VISITS, sale())
    counts = row_counts()

    again = pos.post(VISITS, sale())

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert row_counts() == counts
    assert Visit.objects.filter(external_id="S-1").count() == 1


@pytest.mark.parametrize(
    "other",
    [
        {"lines": [{"service": "aroma"}]},
        {"payment_method": "card"},
    ],
)
def test_other_content_under_the_same_booking_id_is_a_conflict(pos, other):
    pos.post(VISITS, sale())

    response = pos.post(VISITS, sale(**other))

    assert response.status_code == 409
    assert response.json()["code"] == "external_id_conflict"


def test_a_members_booking_under_an_anonymous_sales_id_is_a_conflict(pos):
    # The booking's member is part of its content, whichever way round
    member = MemberFactory()
    pos.post(VISITS, sale())

    response = pos.post(
        VISITS,
        {
            "member_id": member.pk,
            "external_id": "S-1",
            "lines": [{"service": "classic-60"}],
        },
    )

    assert response.status_code == 409
    assert response.json()["code"] == "external_id_conflict"
    assert stats_of(member)[0] == 0


# --- Refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"promo_codes": ["WELCOME"]}, "promo_codes"),
        ({"points_to_use": 100}, "points_to_use"),
    ],
)
def test_member_only_inputs_are_refused(pos, extra, field):
    response = pos.post(VISITS, sale(**extra))

    assert response.status_code == 400
    assert response.json()["code"] == "member_only"
    assert codes(response) == {field: ["member_only"]}
    assert not Visit.objects.exists()


def test_a_voucher_on_an_anonymous_sale_is_refused_and_stays_unused(pos):
    member = MemberFactory()
    voucher = issue_voucher(member, name="20% off", discount_percent=Decimal("20"))

    response = pos.post(VISITS, sale(voucher_codes=[voucher.code]))

    assert response.status_code == 400
    assert codes(response) == {"voucher_codes": ["member_only"]}
    voucher.refresh_from_db()
    assert voucher.visit_id is None
    assert not Visit.objects.exists()


def test_every_member_only_input_is_named_at_once(pos):
    response = pos.post(
        VISITS, sale(voucher_codes=["ABC"], promo_codes=["X"], points_to_use=5)
    )

    assert response.status_code == 400
    assert codes(response) == {
        "voucher_codes": ["member_only"],
        "promo_codes": ["member_only"],
        "points_to_use": ["member_only"],
    }


@pytest.mark.parametrize(
    "who", [{"member_id": 1}, {"phone": "+79161234567"}, {"card": "AB12"}]
)
def test_anonymous_with_a_member_is_refused(pos, who):
    response = pos.post(VISITS, sale(**who))

    assert response.status_code == 400
    assert response.json()["code"] == "anonymous_with_member"
    assert not Visit.objects.exists()


def test_no_member_and_no_anonymous_flag_is_still_member_required(pos):
    # Forgetting the member must not record a sale silently
    response = pos.post(
        VISITS, {"external_id": "S-1", "lines": [{"service": "classic-60"}]}
    )
    false_flag = pos.post(VISITS, sale(anonymous=False))

    assert response.status_code == false_flag.status_code == 400
    assert response.json()["code"] == false_flag.json()["code"] == "member_required"
    assert not Visit.objects.exists()


def test_a_price_beyond_the_limit_is_refused_as_for_members(pos):
    response = pos.post(
        VISITS,
        sale(lines=[{"service": "classic-60", "price": "100.00", "price_reason": "x"}]),
    )

    assert response.status_code == 400
    assert codes(response) == {"lines": ["price_beyond_limit"]}


# --- Quote ----------------------------------------------------------------------


def test_the_quote_prices_an_anonymous_basket_at_its_prices(pos, addon):
    response = pos.post(
        QUOTE,
        {
            "anonymous": True,
            "lines": [{"service": "classic-60"}, {"service": "aroma", "quantity": 2}],
        },
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["member_id"] is None
    assert body["anonymous"] is True
    assert body["tier"] is None
    assert body["benefits"] == []
    assert (body["total"], body["discount_total"], body["amount_to_pay"]) == (
        "4000.00",
        "0.00",
        "4000.00",
    )
    assert body["points_to_earn"] == 0
    assert body["earn_explanation"] == "An anonymous visit earns no points."
    assert [ln["to_pay"] for ln in body["lines"]] == ["3000.00", "1000.00"]
    assert not Visit.objects.exists()


def test_the_quote_refuses_member_only_inputs(pos):
    response = pos.post(
        QUOTE,
        {"anonymous": True, "lines": [{"service": "classic-60"}], "points_to_use": 10},
    )

    assert response.status_code == 400
    assert codes(response) == {"points_to_use": ["member_only"]}


def test_a_members_quote_says_it_is_not_anonymous(pos):
    member = MemberFactory()

    response = pos.post(
        QUOTE, {"member_id": member.pk, "lines": [{"service": "classic-60"}]}
    )

    assert response.status_code == 200
    assert response.json()["anonymous"] is False
    assert response.json()["member_id"] == member.pk


# --- Cancel and refund ----------------------------------------------------------


def test_cancelling_an_anonymous_sale(pos):
    pos.post(VISITS, sale())

    response = pos.post(cancel_url("S-1"), {"reason": "Typed twice"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["visit"]["status"] == "cancelled"
    assert (body["points_reversed"], body["points_returned"]) == (0, 0)
    visit = Visit.objects.get(external_id="S-1")
    assert visit.status == Visit.Status.CANCELLED
    assert visit.status_reason == "Typed twice"
    assert not LedgerEntry.objects.exists()
    # Cancelling again answers its state again
    assert pos.post(cancel_url("S-1"), {}).status_code == 200


def test_refunding_a_whole_anonymous_sale(pos):
    pos.post(VISITS, sale())

    response = pos.post(refund_url("S-1"), {"reason": "Unhappy"})

    assert response.status_code == 200, response.json()
    assert response.json()["visit"]["status"] == "refunded"
    assert Visit.objects.get(external_id="S-1").status == Visit.Status.REFUNDED


def test_refunding_some_lines_of_an_anonymous_sale_returns_their_money(pos, addon):
    recorded = pos.post(
        VISITS,
        sale(lines=[{"service": "classic-60"}, {"service": "aroma", "quantity": 2}]),
    ).json()
    aroma_line = recorded["visit"]["lines"][1]["id"]
    body = {"refund_id": "r-1", "lines": [{"line": aroma_line, "quantity": 1}]}

    first = pos.post(refund_url("S-1"), body)
    again = pos.post(refund_url("S-1"), body)

    assert first.status_code == again.status_code == 200, first.json()
    assert first.json()["refund"]["amount"] == "500.00"
    assert first.json()["visit"]["amount_refunded"] == "500.00"
    assert first.json()["visit"]["status"] == "paid"
    assert VisitRefund.objects.count() == 1
    # The last units close the visit as refunded
    rest = pos.post(
        refund_url("S-1"),
        {
            "refund_id": "r-2",
            "lines": [
                {"line": recorded["visit"]["lines"][0]["id"], "quantity": 1},
                {"line": aroma_line, "quantity": 1},
            ],
        },
    )
    assert rest.status_code == 200, rest.json()
    visit = Visit.objects.get(external_id="S-1")
    assert visit.status == Visit.Status.REFUNDED
    assert visit.amount_refunded == Decimal("4000.00")
    assert not LedgerEntry.objects.exists()


def test_another_locations_key_cannot_cancel_an_anonymous_sale(pos, pos_api):
    pos.post(VISITS, sale())
    other = pos_api(LocationFactory(code="other"))

    response = other.post(cancel_url("S-1"), {})

    assert response.status_code == 404
    assert Visit.objects.get(external_id="S-1").status == Visit.Status.PAID


# --- Beside members' visits -----------------------------------------------------


def test_members_visits_and_points_are_untouched_by_anonymous_sales(pos):
    # Given a member with points, and a sale to someone else the same minute
    member = MemberFactory()
    give_points(member, 300)
    pos.post(VISITS, sale())

    # When the member's own visit is recorded
    response = pos.post(
        VISITS,
        {
            "member_id": member.pk,
            "external_id": "B-2",
            "lines": [{"service": "classic-60"}],
        },
    )

    # Then it is still their first visit (the welcome discount, 5%), and only
    # their visit is in their stats
    assert response.status_code == 201, response.json()
    assert [b["kind"] for b in response.json()["benefits"]] == ["first_visit"]
    visits, spent, _first, _last = stats_of(member)
    assert (visits, spent) == (1, Decimal("2850.00"))
    assert Member.objects.get(pk=member.pk).visits.count() == 1


def test_the_webhook_of_an_anonymous_sale_has_no_member(pos):
    webhook_services.endpoint_save(
        endpoint=Endpoint(url="https://hooks.example.com/x", events=["visit.recorded"])
    )

    pos.post(VISITS, sale())

    event = Event.objects.get(type="visit.recorded")
    assert event.data["member_id"] is None
    assert event.data["amount_paid"] == "3000.00"


# --- The documented contract ----------------------------------------------------


def test_the_schema_documents_anonymous_visits():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    for name in ("PosCheckoutRequest", "PosVisitInRequest"):
        field = components[name]["properties"]["anonymous"]
        assert (field["type"], field["default"]) == ("boolean", False)
        assert "anonymous" not in components[name].get("required", [])
    recorded = components["PosVisitRecorded"]["properties"]
    assert recorded["anonymous"]["type"] == "boolean"
    assert recorded["member"]["nullable"] is True
    assert components["PosQuote"]["properties"]["member_id"]["nullable"] is True
    for path in ("/api/v1/pos/quote", "/api/v1/pos/visits"):
        description = schema["paths"][path]["post"]["description"]
        for code in ("anonymous_with_member", "member_only"):
            assert code in description, path
