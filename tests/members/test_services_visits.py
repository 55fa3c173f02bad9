"""visit_record, visit_cancel, visit_refund, member_stats_reconcile.

Every refusal is checked twice: the ValidationError's code, and that nothing
was written (no visit, no line, the member's cached stats untouched).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members import services
from members.models import Member, Visit, VisitLine
from members.services import VisitLineInput
from tests.conftest import error_codes, moscow, stats_of
from tests.factories import LocationFactory, MemberFactory, ServiceFactory

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def assert_refused(code, call, member):
    """``call`` raises a ValidationError with ``code`` and writes nothing."""
    visits, lines = Visit.objects.count(), VisitLine.objects.count()
    stats = stats_of(member)

    with pytest.raises(ValidationError) as caught:
        call()

    assert code in error_codes(caught.value)
    assert (Visit.objects.count(), VisitLine.objects.count()) == (visits, lines)
    assert stats_of(member) == stats
    return caught.value


# --- visit_record: the happy path ---------------------------------------------


def test_record_adds_the_visit_to_the_members_stats(member, location, service, addon):
    # Given a member with no visits
    # When a visit with two lines is recorded
    result = services.visit_record(
        member=member,
        location=location,
        lines=[
            VisitLineInput(service=service),
            VisitLineInput(service=addon, quantity=2, price="450.50"),
        ],
        paid_at=NOW - timedelta(hours=1),
    )

    # Then the visit, its lines and the member's stats agree
    assert result.created is True
    visit = result.visit
    visit.refresh_from_db()
    assert visit.status == Visit.Status.PAID
    assert visit.total == Decimal("3901.00")  # 3000 + 2 × 450.50
    assert visit.amount_paid == Decimal("3901.00")
    assert [(ln.service, ln.price, ln.quantity) for ln in visit.lines.all()] == [
        (service, Decimal("3000.00"), 1),
        (addon, Decimal("450.50"), 2),
    ]
    assert stats_of(member) == (
        1,
        Decimal("3901.00"),
        NOW - timedelta(hours=1),
        NOW - timedelta(hours=1),
    )


def test_record_price_defaults_to_the_services_base_price(member, location, service):
    result = services.visit_record(
        member=member, location=location, lines=[VisitLineInput(service=service.pk)]
    )

    line = result.visit.lines.get()
    assert line.price == service.base_price == Decimal("3000.00")
    assert result.visit.paid_at == NOW


def test_record_partial_payment_counts_what_was_paid(member, location, service):
    services.visit_record(
        member=member,
        location=location,
        lines=[VisitLineInput(service=service)],
        amount_paid="1000",
    )

    visit = Visit.objects.get()
    assert (visit.total, visit.amount_paid) == (Decimal("3000.00"), Decimal("1000.00"))
    assert stats_of(member)[:2] == (1, Decimal("1000.00"))


def test_record_keeps_first_and_last_visit_right_for_a_back_dated_visit(
    member, record_visit
):
    # Given visits in May and June
    may, june = moscow(2025, 5, 1, 12, 0), moscow(2025, 6, 1, 12, 0)
    record_visit(member, paid_at=june)
    record_visit(member, paid_at=may)
    assert stats_of(member)[2:] == (may, june)

    # When a visit from March is keyed in late
    march = moscow(2025, 3, 1, 12, 0)
    record_visit(member, paid_at=march)

    # Then it becomes the first visit; the last visit stays June
    assert stats_of(member) == (3, Decimal("9000.00"), march, june)


def test_record_accepts_a_paid_at_a_little_ahead_of_the_server_clock(
    member, record_visit
):
    visit = record_visit(member, paid_at=NOW + timedelta(minutes=4))

    assert visit.paid_at == NOW + timedelta(minutes=4)


# --- visit_record: refusals ---------------------------------------------------


def test_record_refuses_an_unknown_service(member, location):
    assert_refused(
        "unknown_service",
        lambda: services.visit_record(
            member=member, location=location, lines=[VisitLineInput(service=999_999)]
        ),
        member,
    )


def test_record_refuses_a_negative_price(member, location, service, addon):
    assert_refused(
        "negative_amount",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[
                VisitLineInput(service=service),
                VisitLineInput(service=addon, price="-10.00"),
            ],
        ),
        member,
    )


def test_record_refuses_a_price_that_is_not_money(member, location, service):
    assert_refused(
        "invalid_amount",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service, price="ten roubles")],
        ),
        member,
    )


@pytest.mark.parametrize("quantity", [0, -1, 101, 1.5, "2"])
def test_record_refuses_a_bad_quantity(member, location, service, quantity):
    assert_refused(
        "invalid_quantity",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service, quantity=quantity)],
        ),
        member,
    )


def test_record_refuses_a_visit_without_lines(member, location):
    assert_refused(
        "no_lines",
        lambda: services.visit_record(member=member, location=location, lines=[]),
        member,
    )


def test_record_refuses_paying_more_than_the_total(member, location, service):
    assert_refused(
        "amount_paid_exceeds_total",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            amount_paid="3000.01",
        ),
        member,
    )


def test_record_refuses_a_negative_amount_paid(member, location, service):
    assert_refused(
        "negative_amount",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            amount_paid="-1",
        ),
        member,
    )


def test_record_refuses_a_visit_paid_in_the_future(member, location, service):
    assert_refused(
        "paid_at_in_future",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            paid_at=NOW + timedelta(minutes=6),
        ),
        member,
    )


def test_record_refuses_an_inactive_location(member, service):
    closed = LocationFactory(is_active=False)

    assert_refused(
        "location_inactive",
        lambda: services.visit_record(
            member=member, location=closed, lines=[VisitLineInput(service=service)]
        ),
        member,
    )


def test_record_refuses_an_unknown_source(member, location, service):
    assert_refused(
        "invalid_source",
        lambda: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            source="telepathy",
        ),
        member,
    )


@pytest.mark.parametrize("status", [Member.Status.BLOCKED, Member.Status.ERASED])
def test_record_refuses_a_member_who_is_not_active(location, service, status):
    member = MemberFactory(status=status)

    assert_refused(
        "member_not_active",
        lambda: services.visit_record(
            member=member, location=location, lines=[VisitLineInput(service=service)]
        ),
        member,
    )


def test_record_checks_the_members_status_in_the_database_not_the_callers_copy(
    location, service
):
    # Given a member blocked after the caller loaded them
    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)

    # Then the stale in-memory copy does not let a visit through
    assert member.status == Member.Status.ACTIVE
    assert_refused(
        "member_not_active",
        lambda: services.visit_record(
            member=member, location=location, lines=[VisitLineInput(service=service)]
        ),
        member,
    )


# --- visit_record: idempotency by (source, external_id) -------------------------


def _pos_booking(member, location, service, **overrides):
    kwargs = {
        "member": member,
        "location": location,
        "lines": [VisitLineInput(service=service)],
        "paid_at": moscow(2025, 6, 9, 19, 0),
        "source": Visit.Source.POS,
        "external_id": "booking-42",
    }
    kwargs.update(overrides)
    return services.visit_record(**kwargs)


def test_the_same_booking_sent_twice_is_recorded_once(member, location, service):
    # Given a booking recorded from the POS
    first = _pos_booking(member, location, service)
    stats = stats_of(member)

    # When the POS retries it with the same content
    again = _pos_booking(member, location, service)

    # Then the first visit is returned and nothing else changes
    assert (first.created, again.created) == (True, False)
    assert again.visit.pk == first.visit.pk
    assert Visit.objects.count() == 1
    assert VisitLine.objects.count() == 1
    assert (
        stats_of(member)
        == stats
        == (
            1,
            Decimal("3000.00"),
            first.visit.paid_at,
            first.visit.paid_at,
        )
    )


def test_a_retry_with_surrounding_spaces_in_the_id_is_the_same_booking(
    member, location, service
):
    first = _pos_booking(member, location, service)

    again = _pos_booking(member, location, service, external_id="  booking-42 ")

    assert again.created is False
    assert again.visit.pk == first.visit.pk


@pytest.mark.parametrize(
    "change",
    [
        {"amount_paid": "2000"},
        {"paid_at": moscow(2025, 6, 9, 20, 0)},
        {"lines": "two"},
    ],
    ids=["amount_paid", "paid_at", "lines"],
)
def test_the_same_booking_id_with_other_content_is_refused(
    member, location, service, change
):
    # Given a booking recorded from the POS
    _pos_booking(member, location, service)
    if change.get("lines") == "two":
        change = {"lines": [VisitLineInput(service=service, quantity=2)]}

    # When the same id arrives carrying something else, nothing changes
    assert_refused(
        "external_id_conflict",
        lambda: _pos_booking(member, location, service, **change),
        member,
    )


def test_the_same_booking_id_for_another_member_is_refused(member, location, service):
    _pos_booking(member, location, service)
    other = MemberFactory()

    assert_refused(
        "external_id_conflict",
        lambda: _pos_booking(other, location, service),
        other,
    )
    assert stats_of(member)[0] == 1


def test_the_same_id_from_another_source_is_another_visit(member, location, service):
    pos = _pos_booking(member, location, service)

    imported = _pos_booking(member, location, service, source=Visit.Source.IMPORT)

    assert imported.created is True
    assert imported.visit.pk != pos.visit.pk
    assert stats_of(member)[:2] == (2, Decimal("6000.00"))


def test_visits_without_an_external_id_are_never_deduplicated(member, record_visit):
    paid_at = moscow(2025, 6, 9, 19, 0)

    record_visit(member, paid_at=paid_at)
    record_visit(member, paid_at=paid_at)

    assert stats_of(member)[:2] == (2, Decimal("6000.00"))


# --- visit_record: the hot path's queries ---------------------------------------

# SAVEPOINT (visit_record's atomic) · stamps · services (the process cache
# loads them: the test just made them) · SELECT … FOR UPDATE member · SELECT
# visit by (source, external_id) · SAVEPOINT · INSERT visit · RELEASE SAVEPOINT ·
# INSERT lines (one bulk insert) · UPDATE member stats · RELEASE SAVEPOINT.
# (The checkout records visits without the inner savepoint: tests/rewards.)
QUERIES_WITH_EXTERNAL_ID = 11
# The same without the lookup by external id.
QUERIES_WITHOUT_EXTERNAL_ID = 10


@pytest.fixture
def members_only(settings):
    """Count the members app's own queries: no visit reactions (points, tiers).

    The whole checkout path, reactions included, is pinned in tests/rewards.
    """
    settings.REGULARS_VISIT_REACTIONS = []


@pytest.mark.parametrize("line_count", [1, 5])
def test_record_runs_a_fixed_number_of_queries_whatever_the_lines(
    member, location, django_assert_num_queries, line_count, members_only
):
    catalogue = ServiceFactory.create_batch(line_count)
    lines = [VisitLineInput(service=s, quantity=2) for s in catalogue]

    with django_assert_num_queries(QUERIES_WITH_EXTERNAL_ID):
        services.visit_record(
            member=member,
            location=location,
            lines=lines,
            source=Visit.Source.POS,
            external_id=f"booking-{line_count}",
        )

    assert VisitLine.objects.count() == line_count
    assert stats_of(member)[0] == 1


@pytest.mark.parametrize("line_count", [1, 5])
def test_record_without_external_id_skips_the_lookup(
    member, location, django_assert_num_queries, line_count, members_only
):
    lines = [VisitLineInput(service=s) for s in ServiceFactory.create_batch(line_count)]

    with django_assert_num_queries(QUERIES_WITHOUT_EXTERNAL_ID):
        services.visit_record(member=member, location=location, lines=lines)


# --- visit_cancel and visit_refund ----------------------------------------------


@pytest.fixture
def three_visits(member, record_visit):
    """Visits on 1 April (3000), 1 May (1500 paid) and 1 June (3000)."""
    april = record_visit(member, paid_at=moscow(2025, 4, 1, 12, 0))
    may = record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0), amount_paid="1500")
    june = record_visit(member, paid_at=moscow(2025, 6, 1, 12, 0))
    assert stats_of(member) == (3, Decimal("7500.00"), april.paid_at, june.paid_at)
    return april, may, june


@pytest.mark.parametrize(
    "reverse, status",
    [
        (services.visit_cancel, Visit.Status.CANCELLED),
        (services.visit_refund, Visit.Status.REFUNDED),
    ],
    ids=["cancel", "refund"],
)
def test_reversing_the_last_visit_takes_it_out_of_the_stats(
    member, three_visits, admin_user, reverse, status
):
    april, may, june = three_visits

    done = reverse(visit=june, reason="  Booked by mistake ", actor=admin_user)

    done.refresh_from_db()
    assert done.status == status
    assert done.status_reason == "Booked by mistake"
    assert done.status_changed_by == admin_user
    assert done.status_changed_at == NOW
    # The last visit falls back to May
    assert stats_of(member) == (2, Decimal("4500.00"), april.paid_at, may.paid_at)


def test_cancelling_the_first_visit_moves_the_first_visit_forward(member, three_visits):
    april, may, june = three_visits

    services.visit_cancel(visit=april)

    assert stats_of(member) == (2, Decimal("4500.00"), may.paid_at, june.paid_at)


def test_refund_takes_out_only_what_was_paid(member, three_visits):
    april, may, june = three_visits

    services.visit_refund(visit=may)

    assert stats_of(member) == (2, Decimal("6000.00"), april.paid_at, june.paid_at)


def test_reversing_the_only_visit_empties_the_stats(member, record_visit):
    visit = record_visit(member)

    services.visit_cancel(visit=visit)

    assert stats_of(member) == (0, Decimal("0.00"), None, None)


@pytest.mark.parametrize(
    "reverse", [services.visit_cancel, services.visit_refund], ids=["cancel", "refund"]
)
def test_reversing_twice_is_a_no_op(member, three_visits, reverse):
    _april, _may, june = three_visits
    first = reverse(visit=june, reason="first")
    stats = stats_of(member)

    again = reverse(visit=june, reason="second")

    again.refresh_from_db()
    assert again.status == first.status
    assert again.status_reason == "first"
    assert stats_of(member) == stats


def test_refunding_a_cancelled_visit_is_refused(member, three_visits):
    _april, _may, june = three_visits
    services.visit_cancel(visit=june, reason="no-show")

    exc = assert_refused(
        "visit_not_paid", lambda: services.visit_refund(visit=june), member
    )

    assert exc.code == "visit_not_paid"
    june.refresh_from_db()
    assert (june.status, june.status_reason) == (Visit.Status.CANCELLED, "no-show")


def test_cancelling_a_refunded_visit_is_refused(member, three_visits):
    _april, _may, june = three_visits
    services.visit_refund(visit=june)

    assert_refused("visit_not_paid", lambda: services.visit_cancel(visit=june), member)
    june.refresh_from_db()
    assert june.status == Visit.Status.REFUNDED


def test_reversing_from_a_stale_copy_reads_the_visits_real_status(member, three_visits):
    # Given a visit someone already cancelled, and our stale copy saying "paid"
    _april, _may, june = three_visits
    Visit.objects.get(pk=june.pk)  # a fresh copy somewhere else…
    services.visit_cancel(visit=Visit.objects.get(pk=june.pk))
    assert june.status == Visit.Status.PAID
    stats = stats_of(member)

    # When refunding through the stale copy, it is refused and counts nothing twice
    assert_refused("visit_not_paid", lambda: services.visit_refund(visit=june), member)
    assert stats_of(member) == stats


# --- member_stats_reconcile -----------------------------------------------------


def test_reconcile_repairs_exactly_the_members_whose_stats_drifted(record_visit):
    # Given three members with visits, and one with none
    anna, boris, vera, gleb = MemberFactory.create_batch(4)
    for who in (anna, boris, vera):
        record_visit(who, paid_at=moscow(2025, 5, 1, 10, 0))
        record_visit(who, paid_at=moscow(2025, 6, 1, 10, 0), amount_paid="1234.56")
    truth = {m.pk: stats_of(m) for m in (anna, boris, vera, gleb)}

    # And the caches of Anna (count, total) and Gleb (dates) corrupted behind
    # the services' back
    Member.objects.filter(pk=anna.pk).update(
        visits_count=7, total_spent=Decimal("1.00")
    )
    Member.objects.filter(pk=gleb.pk).update(
        first_visit_at=moscow(2020, 1, 1, 0, 0), last_visit_at=moscow(2020, 1, 2, 0, 0)
    )
    # And Vera's last visit nulled
    Member.objects.filter(pk=vera.pk).update(last_visit_at=None)

    # When reconciling
    repaired = services.member_stats_reconcile()

    # Then exactly those three are repaired, and everyone matches their visits
    assert repaired == 3
    assert {m.pk: stats_of(m) for m in (anna, boris, vera, gleb)} == truth
    # And a second run finds nothing to do
    assert services.member_stats_reconcile() == 0


def _kopeck_visits(member, location, service, prices):
    return [
        services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service, price=price)],
            paid_at=moscow(2025, 6, day, 12, 0),
        ).visit
        for day, price in enumerate(prices, 1)
    ]


def test_reversing_every_visit_brings_the_total_back_to_exactly_zero(
    member, location, service
):
    # Given kopeck amounts binary floating point cannot hold (SQLite stores
    # decimals as floats: 0.10 + 0.70 - 0.70 - 0.10 is slightly below zero)
    small, large = _kopeck_visits(member, location, service, ["0.10", "0.70"])

    # When both are cancelled, the total lands on zero, not below it
    services.visit_cancel(visit=large)
    services.visit_cancel(visit=small)

    assert stats_of(member) == (0, Decimal("0.00"), None, None)
    assert services.member_stats_reconcile() == 0


def test_reconcile_finds_nothing_after_ordinary_writes(member, location, service):
    # Amounts added and taken away again must not look like drift.
    visits = _kopeck_visits(
        member, location, service, ["0.10", "0.20", "1234.55", "99.99", "0.07", "0.70"]
    )
    services.visit_cancel(visit=visits[0])
    services.visit_refund(visit=visits[3])

    assert stats_of(member)[:2] == (4, Decimal("1235.52"))
    assert services.member_stats_reconcile() == 0


def test_reconcile_sees_no_drift_in_the_kopecks_left_after_a_cancel(
    member, location, service
):
    # 0.10 + 0.20 - 0.10 is not 0.20 in binary floating point
    dime, twenty = _kopeck_visits(member, location, service, ["0.10", "0.20"])

    services.visit_cancel(visit=dime)

    assert stats_of(member)[:2] == (1, Decimal("0.20"))
    assert services.member_stats_reconcile() == 0
