"""The POS integration API, visits: record, cancel, refund (whole or by lines).

``POST pos/visits`` records through the checkout service, idempotent by
``external_id``: a retry answers the identical body (from the database, with
``Idempotent-Replayed: true``), other content under the same id is a 409. A key
cancels and refunds only its own location's visits; another location's visit
is a 404.

Catalogue: massage 3000.00 (code classic-60) and aroma 500.00 (code aroma);
shipped program: 5 points per 100 paid, up to 30% of a bill in points.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from members import access
from members import services as member_services
from members.models import Member, Visit
from members.privacy import member_erase
from members.services import member_update
from rewards.models import (
    LedgerEntry,
    TierChange,
    VisitBenefit,
    VisitReceipt,
    Voucher,
)
from tests.conftest import moscow, promotions_cached, stats_of
from tests.factories import LocationFactory, MemberFactory, RewardFactory
from tests.rewards.conftest import (
    assert_books_balance,
    balances,
    give_points,
    program_set,
    row_counts,
    tier,
    tier_set,
)
from tests.rewards.test_api_pos import codes, issue_voucher

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
VISITS = reverse("pos-visits")
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def pos(pos_api, location):
    return pos_api(location)


@pytest.fixture
def regular(record_visit):
    """A member with one earlier visit (no welcome discount), paid nothing."""
    member = MemberFactory(first_name="Anna")
    record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0), amount_paid="0")
    return member


def cancel_url(external_id: str) -> str:
    return reverse("pos-visit-cancel", args=[external_id])


def refund_url(external_id: str) -> str:
    return reverse("pos-visit-refund", args=[external_id])


def booking(member, external_id="B-1001", **extra) -> dict:
    return {
        "member_id": member.pk,
        "external_id": external_id,
        "lines": [{"service": "classic-60"}],
        **extra,
    }


# --- Recording ------------------------------------------------------------------


def test_record_a_paid_visit(pos, regular, location, service, addon):
    # Given a Silver member with 1000 points and a 20% voucher
    tier_set(regular, "silver")
    give_points(regular, 1000)
    voucher = issue_voucher(regular, name="20% off", discount_percent=Decimal("20"))

    # When the till records the booking
    response = pos.post(
        VISITS,
        booking(
            regular,
            lines=[
                {"service": "classic-60"},
                {
                    "service": addon.pk,
                    "quantity": 2,
                    "price": "450.00",
                    "price_reason": "Loyal client",
                },
            ],
            voucher_codes=[voucher.code],
            points_to_use=200,
            paid_at="2025-06-10T14:30:00+03:00",
            payment_method="card",
        ),
    )

    # Then the visit, its benefits, the points used and earned
    assert response.status_code == 201, response.json()
    assert "Idempotent-Replayed" not in response
    visit = Visit.objects.get(external_id="B-1001")
    assert visit.source == Visit.Source.POS
    assert visit.location == location
    body = response.json()
    # 3900 gross; Silver 10% = 390; 20% of 3510 = 702; 200 points
    assert body["visit"] == {
        "id": visit.pk,
        "external_id": "B-1001",
        "status": "paid",
        "paid_at": "2025-06-10T14:30:00+03:00",
        "total": "3900.00",
        "amount_paid": "2608.00",
        "amount_refunded": "0.00",
        "payment_method": "card",
        "lines": [
            {
                "id": line.pk,
                "service": {"id": line.service.pk, "code": code, "name": name},
                "specialist": None,
                "quantity": qty,
                "unit_price": price,
                "amount": amount,
                "refunded_quantity": 0,
            }
            for line, code, name, qty, price, amount in zip(
                visit.lines.order_by("pk"),
                ["classic-60", "aroma"],
                [service.name, addon.name],
                [1, 2],
                ["3000.00", "450.00"],
                ["3000.00", "900.00"],
                strict=True,
            )
        ],
    }
    assert [(b["kind"], b["amount"], b["voucher_code"]) for b in body["benefits"]] == [
        ("tier_discount", "390.00", None),
        ("voucher", "702.00", voucher.code),
        ("points", "200.00", None),
    ]
    assert body["benefits"][0]["description"] == "Silver tier discount 10%"
    assert body["points_used"] == 200
    assert body["points_earned"] == 163  # 2608 × 5% × 1.25
    assert body["tier_upgraded_to"] is None
    assert body["member"] == {"id": regular.pk, "points_balance": 963}
    assert balances(regular) == (963, 0, 0)
    assert Voucher.objects.get(pk=voucher.pk).status == Voucher.Status.USED
    assert_books_balance(regular)


def test_a_retry_answers_the_identical_body_and_records_nothing(pos, regular):
    give_points(regular, 500)
    voucher = issue_voucher(regular)
    body = booking(regular, voucher_codes=[voucher.code], points_to_use=100)
    first = pos.post(VISITS, body)
    counts = row_counts()

    again = pos.post(VISITS, body)

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert row_counts() == counts
    assert Visit.objects.filter(external_id="B-1001").count() == 1


def test_a_retry_after_a_cancel_answers_the_first_response_as_it_was(pos, regular):
    # Like Stripe's idempotent requests: a retry gets the answer it missed, not
    # the visit as it stands now (the cancel has its own answer)
    first = pos.post(VISITS, booking(regular))
    pos.post(cancel_url("B-1001"), {"reason": "Client did not come"})

    again = pos.post(VISITS, booking(regular))

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.json()["visit"]["status"] == "paid"
    assert Visit.objects.get(external_id="B-1001").status == Visit.Status.CANCELLED


def test_a_visit_recorded_before_answers_were_kept_is_read_back(pos, regular):
    first = pos.post(VISITS, booking(regular))
    VisitReceipt.objects.all().delete()  # as if recorded by an older release

    again = pos.post(VISITS, booking(regular))

    assert again.status_code == 201
    assert again.json() == first.json()


def test_a_retry_without_paid_at_later_is_still_the_same_booking(pos, regular):
    first = pos.post(VISITS, booking(regular))

    with time_machine.travel(NOW + timedelta(minutes=3), tick=False):
        again = pos.post(VISITS, booking(regular))

    assert again.status_code == 201
    assert again.json() == first.json()


def test_a_retry_by_service_id_is_the_same_booking(pos, regular, service):
    first = pos.post(VISITS, booking(regular))

    again = pos.post(VISITS, booking(regular, lines=[{"service": service.pk}]))

    assert again.json() == first.json()


@pytest.mark.parametrize(
    "change",
    [
        {"lines": [{"service": "classic-60", "quantity": 2}]},
        {"lines": [{"service": "classic-60", "price": "2500.00", "price_reason": "x"}]},
        {"lines": [{"service": "aroma"}]},
        {"points_to_use": 50},
        {"voucher_codes": ["VOUCHER"]},
        {"paid_at": "2025-06-10T12:00:00+03:00"},
        {"member_id": "other"},
    ],
    ids=["quantity", "price", "service", "points", "voucher", "paid_at", "member"],
)
def test_other_content_under_the_same_id_is_a_409(pos, regular, addon, change):
    give_points(regular, 500)
    voucher = issue_voucher(regular)
    first = pos.post(VISITS, booking(regular))
    assert first.status_code == 201
    counts = row_counts()
    if change.get("voucher_codes"):
        change = {"voucher_codes": [voucher.code]}
    if change.get("member_id"):
        change = {"member_id": MemberFactory().pk}

    response = pos.post(VISITS, {**booking(regular), **change})

    assert response.status_code == 409
    assert response.json()["code"] == "external_id_conflict"
    assert codes(response) == {"external_id": ["external_id_conflict"]}
    assert row_counts() == counts


def test_the_same_id_from_another_location_is_a_409(pos, pos_api, regular):
    pos.post(VISITS, booking(regular))
    elsewhere = pos_api(LocationFactory())

    response = elsewhere.post(VISITS, booking(regular))

    assert response.status_code == 409
    assert response.json()["code"] == "external_id_conflict"


def test_a_refused_booking_can_be_sent_again_fixed(pos, regular):
    response = pos.post(VISITS, booking(regular, points_to_use=10))
    assert response.json()["code"] == "points_insufficient"

    response = pos.post(VISITS, booking(regular))

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_first_visit_shows_the_welcome_and_a_tier_upgrade(pos, member, service):
    # Given Silver from one visit in the window, and a member with none yet
    silver = tier("silver")
    silver.min_visits = 1
    silver.save()

    response = pos.post(VISITS, booking(member))

    body = response.json()
    assert [b["kind"] for b in body["benefits"]] == ["first_visit"]
    assert body["tier_upgraded_to"]["code"] == "silver"
    assert TierChange.objects.filter(member=member, to_tier=silver).exists()
    again = pos.post(VISITS, booking(member))
    assert again.json() == body


def test_a_visit_that_moves_no_points_reports_the_balance_before(pos, regular):
    give_points(regular, 40)
    program_set(price_change_limit_pct=100)  # a free visit
    response = pos.post(
        VISITS,
        booking(
            regular,
            lines=[{"service": "classic-60", "price": "0", "price_reason": "Gift"}],
        ),
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["points_earned"], body["points_used"]) == (0, 0)
    assert body["member"]["points_balance"] == 40


@pytest.mark.parametrize(
    "voucher_state,code",
    [
        ("theirs", "voucher_not_found"),
        ("used", "voucher_not_active"),
        ("expired", "voucher_expired"),
        ("unknown", "voucher_not_found"),
    ],
)
def test_vouchers_that_cannot_be_used_refuse_the_visit(
    pos, regular, voucher_state, code
):
    owner = MemberFactory() if voucher_state == "theirs" else regular
    voucher = issue_voucher(owner)
    if voucher_state == "used":
        pos.post(VISITS, booking(regular, "B-0", voucher_codes=[voucher.code]))
    if voucher_state == "expired":
        Voucher.objects.filter(pk=voucher.pk).update(valid_until=NOW)
    counts = row_counts()

    response = pos.post(
        VISITS,
        booking(
            regular,
            voucher_codes=["ZZZZZZZZ" if voucher_state == "unknown" else voucher.code],
        ),
    )

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert row_counts() == counts


def test_no_visit_for_a_blocked_member(pos, regular):
    member_update(member=regular, status=Member.Status.BLOCKED)

    response = pos.post(VISITS, booking(regular))

    assert response.status_code == 400
    assert response.json()["code"] == "member_not_active"
    assert not Visit.objects.filter(source=Visit.Source.POS).exists()


def test_no_visit_for_an_erased_member(pos, regular):
    member_erase(member=regular)

    response = pos.post(VISITS, booking(regular))

    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"


@pytest.mark.parametrize(
    "change,field,code",
    [
        ({"external_id": ""}, "external_id", "blank"),
        ({"external_id": "x" * 101}, "external_id", "max_length"),
        ({"paid_at": "yesterday"}, "paid_at", "invalid"),
        ({"paid_at": "2025-06-11T15:00:00+03:00"}, "paid_at", "paid_at_in_future"),
    ],
)
def test_visit_input_errors(pos, regular, change, field, code):
    response = pos.post(VISITS, {**booking(regular), **change})

    assert response.status_code == 400
    assert code in codes(response)[field]


def test_external_id_is_required(pos, regular):
    body = booking(regular)
    del body["external_id"]

    response = pos.post(VISITS, body)

    assert response.json()["code"] == "invalid"
    assert codes(response) == {"external_id": ["required"]}


def test_recording_a_visit_costs_a_fixed_number_of_queries(
    pos, regular, django_assert_num_queries
):
    # Given a member with points and a voucher, and a key used a moment ago
    give_points(regular, 1000)
    voucher = issue_voucher(regular)
    access.api_key_authenticate(pos.raw_key)
    body = booking(regular, voucher_codes=[voucher.code], points_to_use=100)

    # Then a new visit with a voucher and points (the hot path): stamps; the
    # checkout (member lock — by id, no look-up first —, booking id, wallet
    # lock, voucher, spendable points, visit, lines, stats, benefits, voucher
    # used, lots, spend, lots, allocations, earn, lot, wallet), the balance
    # every reaction left and the kept answer. Two of the 22 are the test
    # transaction's savepoints; the key, settings, tiers, rates and services
    # come from the process caches.
    promotions_cached()
    with django_assert_num_queries(22):
        response = pos.post(VISITS, body)
    assert response.status_code == 201

    # and its retry: no pricing, nothing written — stamps, member lock, the
    # booking id, the visit with its kept answer (+ the test's savepoints)
    with django_assert_num_queries(6):
        again = pos.post(VISITS, body)
    assert again.json() == response.json()


def test_a_plain_visit_costs_fewer_queries(
    pos, regular, service, django_assert_num_queries
):
    access.api_key_authenticate(pos.raw_key)

    # stamps · member lock · booking id · wallet lock · visit · lines · stats ·
    # earn · lot · wallet · the balance · the kept answer: 12 (+ the test's
    # savepoints)
    promotions_cached()
    with django_assert_num_queries(14):
        response = pos.post(VISITS, booking(regular, lines=[{"service": service.pk}]))
    assert response.status_code == 201


# --- Cancel ---------------------------------------------------------------------


def test_cancel_a_visit(pos, regular):
    give_points(regular, 500)
    voucher = issue_voucher(regular)
    pos.post(VISITS, booking(regular, voucher_codes=[voucher.code], points_to_use=100))
    before = stats_of(regular)

    response = pos.post(cancel_url("B-1001"), {"reason": "Client did not come"})

    assert response.status_code == 200, response.json()
    body = response.json()
    visit = Visit.objects.get(external_id="B-1001")
    assert body["visit"]["status"] == "cancelled"
    assert body["visit"]["id"] == visit.pk
    assert body["refund"] is None
    # 3000 − 10% voucher 300 − 100 points = 2600 paid, 130 earned; all undone
    assert body["points_reversed"] == 130
    assert body["points_returned"] == 100
    assert visit.status_reason == "Client did not come"
    assert stats_of(regular)[0] == before[0] - 1
    assert balances(regular) == (500, 0, 0)
    assert Voucher.objects.get(pk=voucher.pk).status == Voucher.Status.ACTIVE
    assert_books_balance(regular)


def test_cancelling_twice_answers_the_same_state(pos, regular):
    pos.post(VISITS, booking(regular))
    first = pos.post(cancel_url("B-1001"))
    counts = row_counts()

    again = pos.post(cancel_url("B-1001"))

    assert again.status_code == 200
    assert again.json() == first.json()
    assert row_counts() == counts


def test_a_key_cannot_touch_another_locations_visit(pos, pos_api, regular):
    pos.post(VISITS, booking(regular))
    elsewhere = pos_api(LocationFactory())

    for url in (cancel_url("B-1001"), refund_url("B-1001")):
        response = elsewhere.post(url, {})
        assert response.status_code == 404
        assert response.json()["code"] == "visit_not_found"
    assert Visit.objects.get(external_id="B-1001").status == Visit.Status.PAID


def test_only_pos_visits_are_found_by_external_id(pos, regular, location, service):
    member_services.visit_record(
        member=regular,
        location=location,
        lines=[member_services.VisitLineInput(service=service)],
        source=Visit.Source.IMPORT,
        external_id="B-7",
    )

    assert pos.post(cancel_url("B-7")).status_code == 404


def test_booking_ids_may_hold_slashes(pos, regular):
    pos.post(VISITS, booking(regular, "2025/06/10/7"))

    response = pos.post(cancel_url("2025/06/10/7"))

    assert response.status_code == 200
    assert response.json()["visit"]["external_id"] == "2025/06/10/7"


def test_an_unknown_booking_is_a_404(pos):
    response = pos.post(cancel_url("nope"))

    assert response.status_code == 404
    assert response.json()["code"] == "visit_not_found"


# --- Refund ---------------------------------------------------------------------


def test_refund_a_whole_visit(pos, regular):
    pos.post(VISITS, booking(regular))

    response = pos.post(refund_url("B-1001"), {"reason": "Unhappy"})

    assert response.status_code == 200
    body = response.json()
    assert body["visit"]["status"] == "refunded"
    assert body["points_reversed"] == 150
    assert balances(regular) == (0, 0, 0)
    again = pos.post(refund_url("B-1001"), {"reason": "Unhappy"})
    assert again.json() == body


def test_refunding_a_cancelled_visit_is_refused(pos, regular):
    pos.post(VISITS, booking(regular))
    pos.post(cancel_url("B-1001"))

    response = pos.post(refund_url("B-1001"))

    assert response.status_code == 400
    assert response.json()["code"] == "visit_not_paid"


def test_refund_by_lines_needs_a_refund_id(pos, regular):
    pos.post(VISITS, booking(regular))
    line = Visit.objects.get(external_id="B-1001").lines.get()

    response = pos.post(
        refund_url("B-1001"), {"lines": [{"line": line.pk, "quantity": 1}]}
    )

    assert response.status_code == 400
    # Documented "in fields.refund_id, with code: invalid".
    assert response.json()["code"] == "invalid"
    assert codes(response) == {"refund_id": ["refund_id_required"]}


@pytest.mark.parametrize(
    "lines,field,code",
    [
        ([], "lines", "min_length"),
        ([{"line": 1}], "lines.0.quantity", "required"),
        ([{"line": 1, "quantity": 0}], "lines.0.quantity", "min_value"),
    ],
)
def test_refund_line_input_errors(pos, regular, lines, field, code):
    pos.post(VISITS, booking(regular))

    response = pos.post(refund_url("B-1001"), {"lines": lines, "refund_id": "r-1"})

    assert response.status_code == 400
    assert code in codes(response)[field]


def test_a_line_of_another_visit_is_refused(pos, regular):
    pos.post(VISITS, booking(regular, "B-1"))
    pos.post(VISITS, booking(regular, "B-2"))
    other_line = Visit.objects.get(external_id="B-2").lines.get()

    response = pos.post(
        refund_url("B-1"),
        {"lines": [{"line": other_line.pk, "quantity": 1}], "refund_id": "r-1"},
    )

    assert response.status_code == 400
    assert codes(response) == {"lines": ["unknown_visit_line"]}


# Partial refunds: ``members.services.visit_refund_partial``.

needs_partial_refunds = pytest.mark.skipif(
    not hasattr(member_services, "visit_refund_partial"),
    reason="members.services.visit_refund_partial is not there yet",
)


@pytest.fixture
def two_line_visit(pos, regular, addon):
    pos.post(
        VISITS,
        booking(
            regular,
            lines=[{"service": "classic-60"}, {"service": "aroma", "quantity": 2}],
        ),
    )
    return Visit.objects.get(external_id="B-1001")


@needs_partial_refunds
def test_refund_some_lines(pos, regular, two_line_visit):
    massage, aroma = two_line_visit.lines.order_by("pk")

    response = pos.post(
        refund_url("B-1001"),
        {
            "lines": [{"line": aroma.pk, "quantity": 1}],
            "refund_id": "R-1",
            "reason": "Aroma oil ran out",
        },
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["visit"]["status"] == "paid"
    assert body["visit"]["amount_refunded"] == "500.00"
    assert [ln["refunded_quantity"] for ln in body["visit"]["lines"]] == [0, 1]
    assert body["refund"]["amount"] == "500.00"
    assert body["points_reversed"] == 25  # 5 per 100 of the 500 returned
    assert_books_balance(regular)


@needs_partial_refunds
def test_a_partial_refund_sent_twice_refunds_once(pos, regular, two_line_visit):
    aroma = two_line_visit.lines.order_by("pk").last()
    body = {"lines": [{"line": aroma.pk, "quantity": 1}], "refund_id": "R-1"}
    first = pos.post(refund_url("B-1001"), body)

    again = pos.post(refund_url("B-1001"), body)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert Visit.objects.get(pk=two_line_visit.pk).amount_refunded == Decimal("500")


@needs_partial_refunds
def test_a_refund_id_reused_for_other_lines_is_a_409(pos, regular, two_line_visit):
    massage, aroma = two_line_visit.lines.order_by("pk")
    pos.post(
        refund_url("B-1001"),
        {"lines": [{"line": aroma.pk, "quantity": 1}], "refund_id": "R-1"},
    )

    response = pos.post(
        refund_url("B-1001"),
        {"lines": [{"line": massage.pk, "quantity": 1}], "refund_id": "R-1"},
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "refund_key_conflict"
    # In the POS's terms: its refund_id, never our internal key.
    assert body["fields"]["refund_id"][0]["code"] == "refund_key_conflict"
    assert "pos:" not in body["message"]


@needs_partial_refunds
def test_refund_ids_are_per_location(pos, pos_api, regular, two_line_visit):
    # Given the same refund id used at another location for its own visit
    elsewhere = pos_api(LocationFactory())
    elsewhere.post(VISITS, booking(regular, "B-2"))
    their_line = Visit.objects.get(external_id="B-2").lines.get()
    elsewhere.post(
        refund_url("B-2"),
        {"lines": [{"line": their_line.pk, "quantity": 1}], "refund_id": "R-1"},
    )
    aroma = two_line_visit.lines.order_by("pk").last()

    # When this location uses the same refund id
    response = pos.post(
        refund_url("B-1001"),
        {"lines": [{"line": aroma.pk, "quantity": 1}], "refund_id": "R-1"},
    )

    # Then it is a refund of its own
    assert response.status_code == 200, response.json()
    assert response.json()["visit"]["amount_refunded"] == "500.00"


@needs_partial_refunds
def test_refunding_more_than_was_bought_is_refused(pos, regular, two_line_visit):
    aroma = two_line_visit.lines.order_by("pk").last()

    response = pos.post(
        refund_url("B-1001"),
        {"lines": [{"line": aroma.pk, "quantity": 3}], "refund_id": "R-1"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "refund_quantity_invalid"


# --- Benefits -------------------------------------------------------------------


def test_benefit_rows_match_the_answer(pos, regular):
    voucher = issue_voucher(regular, RewardFactory(discount_percent=Decimal("20")))

    body = pos.post(VISITS, booking(regular, voucher_codes=[voucher.code])).json()

    rows = VisitBenefit.objects.filter(visit_id=body["visit"]["id"])
    assert [(b.kind, f"{b.amount:.2f}") for b in rows] == [
        (b["kind"], b["amount"]) for b in body["benefits"]
    ]


def test_a_request_with_several_wrong_fields_answers_the_generic_invalid(pos_api):
    pos = pos_api(LocationFactory())

    response = pos.post(
        "/api/v1/pos/visits", {"lines": "none", "points_to_use": -1}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert len(body["fields"]) >= 2
