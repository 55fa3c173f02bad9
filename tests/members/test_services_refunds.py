"""visit_refund_partial: refunding some lines of a paid visit, to the kopeck.

The visit used throughout: one 3 000.00 massage and three 500.00 aroma add-ons
(4 500.00 gross), of which 4 000.00 was paid in money. A unit's share of the
money is pro rata by gross: an add-on is 4000 × 500 / 4500 = 444.44(4).
"""

from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from members import services, visit_flow
from members.models import Member, Visit, VisitLine, VisitRefund
from members.services import VisitLineInput
from tests.conftest import error_codes, moscow, stats_of
from tests.factories import MemberFactory
from tests.members.test_concurrency import errors_of, race

pytestmark = pytest.mark.django_db

NOW = moscow(2026, 11, 18, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def visit(member, record_visit, service, addon):
    """Paid 4 000.00 for a massage (3 000.00) and three add-ons (500.00 each)."""
    return record_visit(
        member,
        lines=[
            VisitLineInput(service=service),
            VisitLineInput(service=addon, quantity=3),
        ],
        amount_paid="4000",
        paid_at=moscow(2026, 11, 18, 12, 0),
    )


def lines_of(visit) -> tuple[VisitLine, VisitLine]:
    massage, aroma = visit.lines.order_by("pk")
    return massage, aroma


def refund(visit, lines, key, **kwargs) -> VisitRefund:
    return services.visit_refund_partial(visit=visit, lines=lines, key=key, **kwargs)


def refunded(visit) -> tuple[str, Decimal, list[int]]:
    """(status, amount refunded, refunded quantity per line), from the database."""
    visit.refresh_from_db()
    return (
        visit.status,
        visit.amount_refunded,
        list(visit.lines.order_by("pk").values_list("refunded_quantity", flat=True)),
    )


def assert_refused(code, call, visit):
    """``call`` raises a ValidationError with ``code`` and changes nothing."""
    before = (
        VisitRefund.objects.count(),
        refunded(visit),
        stats_of(visit.member),
    )
    with pytest.raises(ValidationError) as caught:
        call()
    assert code in error_codes(caught.value), caught.value
    after = (VisitRefund.objects.count(), refunded(visit), stats_of(visit.member))
    assert after == before
    return caught.value


# --- The happy path: partial, partial, the rest -----------------------------


def test_partial_refunds_add_up_to_exactly_what_was_paid(member, visit, admin_user):
    massage, aroma = lines_of(visit)
    assert stats_of(member)[:2] == (1, Decimal("4000.00"))

    # When one add-on is refunded
    first = refund(visit, [(aroma, 1)], "r1", reason=" Allergy ", actor=admin_user)

    # Then its share of the money goes back and leaves the member's total
    assert first.amount == Decimal("444.44")
    assert (first.key, first.reason, first.created_by) == ("r1", "Allergy", admin_user)
    assert first.created_at == NOW
    assert first.lines == [
        {
            "line": aroma.pk,
            "service": aroma.service_id,
            "quantity": 1,
            "amount": "444.44",
        }
    ]
    assert refunded(visit) == (Visit.Status.PAID, Decimal("444.44"), [0, 1])
    # And the visit still counts as a visit
    assert stats_of(member)[:2] == (1, Decimal("3555.56"))

    # When a second add-on is refunded
    second = refund(visit, [(aroma, 1)], "r2")
    assert second.amount == Decimal("444.44")
    assert refunded(visit) == (Visit.Status.PAID, Decimal("888.88"), [0, 2])

    # And then the rest: the massage and the last add-on
    last = refund(visit, [(massage, 1), (aroma, 1)], "r3")

    # Then the last refund takes exactly what was left, never a kopeck more
    assert last.amount == Decimal("3111.12")
    assert first.amount + second.amount + last.amount == Decimal("4000.00")
    assert sum(Decimal(item["amount"]) for item in last.lines) == last.amount
    # And with nothing left the visit is refunded and out of the stats
    assert refunded(visit) == (Visit.Status.REFUNDED, Decimal("4000.00"), [1, 3])
    visit.refresh_from_db()
    assert (visit.status_changed_at, visit.status_changed_by) == (NOW, None)
    assert stats_of(member) == (0, Decimal("0.00"), None, None)
    assert services.member_stats_reconcile() == 0


def test_one_refund_of_every_line_refunds_the_visit(member, visit):
    massage, aroma = lines_of(visit)

    done = refund(visit, [(aroma, 3), (massage, 1)], "all")

    assert done.amount == Decimal("4000.00")
    # Lines in the visit's order, their shares adding up to the amount
    assert [(i["line"], i["quantity"], i["amount"]) for i in done.lines] == [
        (massage.pk, 1, "2666.67"),
        (aroma.pk, 3, "1333.33"),
    ]
    assert refunded(visit) == (Visit.Status.REFUNDED, Decimal("4000.00"), [1, 3])
    assert stats_of(member) == (0, Decimal("0.00"), None, None)


def test_a_refund_never_takes_more_than_is_left_however_it_rounds(
    member, location, addon
):
    # Given 0.05 paid for ten add-ons: half a kopeck each, rounded up to one
    visit = services.visit_record(
        member=member,
        location=location,
        lines=[VisitLineInput(service=addon, quantity=10, price="1.00")],
        amount_paid="0.05",
    ).visit
    (line,) = visit.lines.all()

    # When they are refunded one at a time
    amounts = [refund(visit, [(line, 1)], f"k{i}").amount for i in range(10)]

    # Then the first five take a kopeck each, the rest nothing: 0.05 in all
    assert amounts == [Decimal("0.01")] * 5 + [Decimal("0.00")] * 5
    assert refunded(visit) == (Visit.Status.REFUNDED, Decimal("0.05"), [10])
    assert stats_of(member)[:2] == (0, Decimal("0.00"))


def test_a_free_visit_refunds_no_money(member, location, addon):
    visit = services.visit_record(
        member=member,
        location=location,
        lines=[VisitLineInput(service=addon, quantity=2, price="0")],
    ).visit
    (line,) = visit.lines.all()

    done = refund(visit, [(line, 1)], "free")

    assert done.amount == Decimal("0.00")
    assert done.lines[0]["amount"] == "0.00"
    assert refunded(visit) == (Visit.Status.PAID, Decimal("0.00"), [1])


def test_the_share_follows_the_amount_paid_not_the_list_price(member, visit):
    # 4 000.00 of 4 500.00 was paid: the massage's share is 2 666.67, not 3 000
    massage, _aroma = lines_of(visit)

    done = refund(visit, [(massage, 1)], "massage")

    assert done.amount == Decimal("2666.67")
    assert stats_of(member)[:2] == (1, Decimal("1333.33"))


# --- Then a full refund or a cancel: only the rest ---------------------------


@pytest.mark.parametrize(
    "reverse, status",
    [
        (services.visit_refund, Visit.Status.REFUNDED),
        (services.visit_cancel, Visit.Status.CANCELLED),
    ],
    ids=["refund", "cancel"],
)
def test_reversing_a_partly_refunded_visit_takes_out_only_the_rest(
    member, record_visit, visit, reverse, status
):
    # Given an earlier visit, and one add-on of this one refunded
    earlier = record_visit(member, paid_at=moscow(2026, 10, 1, 12, 0))
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 1)], "r1")
    assert stats_of(member)[:2] == (2, Decimal("6555.56"))

    # When the visit is refunded in full (or cancelled)
    reverse(visit=visit, reason="closed")

    # Then what is left of it leaves the stats, and the earlier visit remains
    assert stats_of(member) == (1, Decimal("3000.00"), earlier.paid_at, earlier.paid_at)
    visit.refresh_from_db()
    assert (visit.status, visit.amount_refunded) == (status, Decimal("444.44"))
    assert services.member_stats_reconcile() == 0


def test_no_partial_refund_after_a_full_one(member, visit):
    _massage, aroma = lines_of(visit)
    services.visit_refund(visit=visit)

    assert_refused("visit_not_paid", lambda: refund(visit, [(aroma, 1)], "late"), visit)


def test_no_partial_refund_of_a_cancelled_visit(member, visit):
    _massage, aroma = lines_of(visit)
    services.visit_cancel(visit=visit)

    assert_refused("visit_not_paid", lambda: refund(visit, [(aroma, 1)], "late"), visit)


# --- Idempotency ---------------------------------------------------------------


def test_the_same_refund_sent_again_returns_the_first(member, visit):
    _massage, aroma = lines_of(visit)
    first = refund(visit, [(aroma, 2)], "till-7:refund-1")
    after = (refunded(visit), stats_of(member), VisitRefund.objects.count())

    again = refund(visit, [(aroma, 2)], "till-7:refund-1", reason="retry")

    assert again == first
    assert (refunded(visit), stats_of(member), VisitRefund.objects.count()) == after


def test_a_retry_after_the_visit_closed_still_returns_the_first(member, visit):
    massage, aroma = lines_of(visit)
    first = refund(visit, [(massage, 1), (aroma, 3)], "all")
    assert refunded(visit)[0] == Visit.Status.REFUNDED

    assert refund(visit, [(aroma, 3), (massage, 1)], "all") == first


def test_the_same_key_with_other_quantities_is_a_conflict(member, visit):
    massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 1)], "k")

    assert_refused(
        "refund_key_conflict", lambda: refund(visit, [(aroma, 2)], "k"), visit
    )
    assert_refused(
        "refund_key_conflict",
        lambda: refund(visit, [(aroma, 1), (massage, 1)], "k"),
        visit,
    )


def test_the_same_key_for_another_visit_is_a_conflict(member, visit, record_visit):
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 1)], "k")
    other = record_visit(MemberFactory())
    (line,) = other.lines.all()

    with pytest.raises(ValidationError) as caught:
        refund(other, [(line, 1)], "k")

    assert error_codes(caught.value) == {"refund_key_conflict"}
    assert refunded(other) == (Visit.Status.PAID, Decimal("0.00"), [0])


# --- Refusals --------------------------------------------------------------------


def test_more_than_is_left_of_a_line_is_refused(member, visit):
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 2)], "r1")

    exc = assert_refused(
        "refund_quantity_invalid", lambda: refund(visit, [(aroma, 2)], "r2"), visit
    )
    assert list(exc.error_dict) == ["lines"]


def test_a_stale_copy_of_a_line_does_not_allow_refunding_twice(member, visit):
    # Given our copy of the add-on line read before someone refunded all of it
    _massage, aroma = lines_of(visit)
    refund(visit, [(VisitLine.objects.get(pk=aroma.pk), 3)], "desk-1")
    assert aroma.refunded_quantity == 0

    assert_refused(
        "refund_quantity_invalid", lambda: refund(visit, [(aroma, 1)], "desk-2"), visit
    )


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5, "1"])
def test_a_quantity_that_is_not_a_positive_whole_number_is_refused(
    member, visit, quantity
):
    _massage, aroma = lines_of(visit)

    assert_refused(
        "refund_quantity_invalid",
        lambda: refund(visit, [(aroma, quantity)], "bad"),
        visit,
    )


def test_a_line_of_another_visit_is_refused(member, visit, record_visit):
    other = record_visit(member)
    (foreign,) = other.lines.all()

    exc = assert_refused(
        "refund_line_not_in_visit",
        lambda: refund(visit, [(foreign, 1)], "foreign"),
        visit,
    )
    assert list(exc.error_dict) == ["lines"]
    assert refunded(other) == (Visit.Status.PAID, Decimal("0.00"), [0])


def test_a_line_listed_twice_is_refused(member, visit):
    _massage, aroma = lines_of(visit)

    assert_refused(
        "refund_line_duplicate",
        lambda: refund(visit, [(aroma, 1), (aroma, 1)], "twice"),
        visit,
    )


def test_a_refund_of_nothing_is_refused(member, visit):
    assert_refused("no_lines", lambda: refund(visit, [], "empty"), visit)


@pytest.mark.parametrize("key", ["", "   ", "k" * 151])
def test_a_refund_needs_a_usable_key(member, visit, key):
    _massage, aroma = lines_of(visit)

    exc = assert_refused("invalid_key", lambda: refund(visit, [(aroma, 1)], key), visit)
    assert list(exc.error_dict) == ["key"]


# --- The members' stats ---------------------------------------------------------


def test_reconcile_agrees_with_partial_refunds(member, visit, record_visit):
    _massage, aroma = lines_of(visit)
    record_visit(member, amount_paid="0.10")
    refund(visit, [(aroma, 1)], "r1")
    assert stats_of(member)[:2] == (2, Decimal("3555.66"))

    # Nothing to repair after the services' own writes
    assert services.member_stats_reconcile() == 0

    # And a drifted total is repaired to paid less refunded
    Member.objects.filter(pk=member.pk).update(total_spent=Decimal("4000.10"))
    assert services.member_stats_reconcile() == 1
    assert stats_of(member)[:2] == (2, Decimal("3555.66"))


# --- The visit flow ----------------------------------------------------------------

CALLS: list[tuple[str, str, int | None]] = []


class Listening:
    def visit_recorded(self, event):
        CALLS.append(("recorded", type(self).__name__, None))

    def visit_reversed(self, event):
        CALLS.append(("reversed", type(self).__name__, None))

    def visit_partially_refunded(self, event):
        CALLS.append(("partial", type(self).__name__, event.refund.pk))


class AlsoListening(Listening):
    pass


class Deaf:
    """A reaction written before partial refunds existed."""

    def visit_recorded(self, event):
        CALLS.append(("recorded", "Deaf", None))

    def visit_reversed(self, event):
        CALLS.append(("reversed", "Deaf", None))


def test_reactions_hear_of_partial_refunds_in_reversal_order(
    settings, member, location, service
):
    # Given three reactions, one of which knows nothing of partial refunds
    here = "tests.members.test_services_refunds"
    settings.REGULARS_VISIT_REACTIONS = [
        f"{here}.Listening",
        f"{here}.Deaf",
        f"{here}.AlsoListening",
    ]
    visit_flow._load.cache_clear()
    CALLS.clear()
    visit = services.visit_record(
        member=member,
        location=location,
        lines=[VisitLineInput(service=service, quantity=2)],
    ).visit
    (line,) = visit.lines.all()

    # When one unit is refunded, then the other
    first = refund(visit, [(line, 1)], "a")
    second = refund(visit, [(line, 1)], "b")

    # Then those that listen hear each refund, last-listed first, and the last
    # refund closes the visit through the ordinary reversal
    assert CALLS[3:] == [
        ("partial", "AlsoListening", first.pk),
        ("partial", "Listening", first.pk),
        ("partial", "AlsoListening", second.pk),
        ("partial", "Listening", second.pk),
        ("reversed", "AlsoListening", None),
        ("reversed", "Deaf", None),
        ("reversed", "Listening", None),
    ]
    visit_flow._load.cache_clear()


# --- The admin page ----------------------------------------------------------------


def page_url(visit) -> str:
    return reverse("admin:members_visit_refund_lines", args=[visit.pk])


def test_a_manager_refunds_some_lines_from_the_visits_page(manager_client, visit):
    massage, aroma = lines_of(visit)
    change_url = reverse("admin:members_visit_change", args=[visit.pk])

    # Given the visit's page offers "Refund some lines"
    assert page_url(visit) in manager_client.get(change_url).content.decode()

    # When the page is opened, it asks how many units of each line
    response = manager_client.get(page_url(visit))
    assert response.status_code == 200
    form = response.context["form"]
    assert [f.name for f in form.line_fields()] == [
        f"line_{massage.pk}",
        f"line_{aroma.pk}",
    ]
    key = form["key"].value()

    # And two add-ons are refunded, with a reason
    data = {"key": key, f"line_{massage.pk}": "0", f"line_{aroma.pk}": "2"}
    response = manager_client.post(page_url(visit), {**data, "reason": "Allergy"})

    # Then the service made the refund, by the manager, and the page says so
    assert response.status_code == 302
    assert response.url == change_url
    done = VisitRefund.objects.get()
    assert (done.amount, done.reason, done.created_by) == (
        Decimal("888.89"),
        "Allergy",
        manager_client.user,
    )
    assert refunded(visit) == (Visit.Status.PAID, Decimal("888.89"), [0, 2])
    # And the visit's page lists it
    assert "888.89" in manager_client.get(change_url).content.decode()

    # When the same page is sent again (a double click), nothing more happens
    manager_client.post(page_url(visit), {**data, "reason": "Allergy"})
    assert VisitRefund.objects.count() == 1
    assert refunded(visit)[1] == Decimal("888.89")

    # And sent again with other lines, it asks to open the page afresh
    data[f"line_{aroma.pk}"] = "1"
    response = manager_client.post(page_url(visit), {**data, "reason": "Allergy"})
    assert response.status_code == 200
    assert "open it again" in str(response.context["form"].non_field_errors())
    assert VisitRefund.objects.count() == 1


def test_the_page_refuses_a_refund_of_nothing_or_too_much(manager_client, visit):
    massage, aroma = lines_of(visit)
    key = manager_client.get(page_url(visit)).context["form"]["key"].value()

    nothing = manager_client.post(
        page_url(visit),
        {"key": key, f"line_{massage.pk}": "0", f"line_{aroma.pk}": "0", "reason": "x"},
    )
    too_much = manager_client.post(
        page_url(visit),
        {"key": key, f"line_{massage.pk}": "0", f"line_{aroma.pk}": "4", "reason": "x"},
    )

    assert nothing.status_code == too_much.status_code == 200
    assert nothing.context["form"].non_field_errors()
    assert too_much.context["form"].errors[f"line_{aroma.pk}"]
    assert refunded(visit) == (Visit.Status.PAID, Decimal("0.00"), [0, 0])


def test_the_front_desk_cannot_refund_lines(front_desk_client, visit):
    change_url = reverse("admin:members_visit_change", args=[visit.pk])

    assert page_url(visit) not in front_desk_client.get(change_url).content.decode()
    assert front_desk_client.get(page_url(visit)).status_code == 403
    (_massage, aroma) = lines_of(visit)
    response = front_desk_client.post(
        page_url(visit), {"key": "k", f"line_{aroma.pk}": "1", "reason": "x"}
    )
    assert response.status_code == 403
    assert VisitRefund.objects.count() == 0


def test_a_visit_no_longer_paid_offers_no_refund(manager_client, visit):
    services.visit_cancel(visit=visit)
    change_url = reverse("admin:members_visit_change", args=[visit.pk])

    assert page_url(visit) not in manager_client.get(change_url).content.decode()
    response = manager_client.get(page_url(visit))
    assert (response.status_code, response.url) == (302, change_url)


# --- Races (PostgreSQL) --------------------------------------------------------


def on_postgres(test):
    """Real threads, real row locks: PostgreSQL only, committed transactions."""
    marks = [
        pytest.mark.postgres,
        pytest.mark.skipif(
            connection.vendor != "postgresql",
            reason="needs PostgreSQL: SQLite has no row locks to race on",
        ),
        pytest.mark.django_db(transaction=True),
    ]
    for mark in marks:
        test = mark(test)
    return test


@on_postgres
def test_two_refunds_racing_for_the_last_unit_of_a_line_refund_it_once(member, visit):
    # Given two add-ons refunded, one left
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 2)], "first")

    # When two front desks refund the last one at the same moment
    outcomes = race(2, lambda i: refund(visit, [(aroma, 1)], f"desk-{i}"))

    # Then one refund is made, the other is told there is nothing left
    errors = errors_of(outcomes)
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError)
    assert error_codes(errors[0]) == {"refund_quantity_invalid"}
    assert refunded(visit) == (Visit.Status.PAID, Decimal("1333.33"), [0, 3])
    assert VisitRefund.objects.filter(visit=visit).count() == 2
    assert stats_of(member)[:2] == (1, Decimal("2666.67"))
    assert services.member_stats_reconcile() == 0


@on_postgres
def test_one_refund_sent_many_times_at_once_refunds_once(member, visit):
    _massage, aroma = lines_of(visit)

    outcomes = race(8, lambda _i: refund(visit, [(aroma, 1)], "till-1:r1"))

    assert errors_of(outcomes) == []
    assert len({value.pk for _kind, value in outcomes}) == 1
    assert refunded(visit) == (Visit.Status.PAID, Decimal("444.44"), [0, 1])
    assert stats_of(member)[:2] == (1, Decimal("3555.56"))
