"""Reads shared by the admin, tasks and services."""

from decimal import Decimal

import pytest

from members import selectors, services
from members.models import Member, Visit
from members.services import VisitLineInput
from tests.conftest import moscow
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MAY, JUNE, JULY = (moscow(2025, m, 1, 12, 0) for m in (5, 6, 7))


def test_visit_by_external_id_looks_within_one_source(member, location, service):
    visit = services.visit_record(
        member=member,
        location=location,
        lines=[VisitLineInput(service=service)],
        paid_at=MAY,
        source=Visit.Source.POS,
        external_id="booking-42",
    ).visit

    assert (
        selectors.visit_by_external_id(source="pos", external_id="booking-42") == visit
    )
    assert (
        selectors.visit_by_external_id(source="import", external_id="booking-42")
        is None
    )
    assert (
        selectors.visit_by_external_id(source="pos", external_id="booking-43") is None
    )


def test_paid_visit_bounds_ignore_cancelled_and_refunded_visits(member, record_visit):
    first = record_visit(member, paid_at=MAY)
    record_visit(member, paid_at=JUNE)
    last = record_visit(member, paid_at=JULY)
    services.visit_cancel(visit=first)
    services.visit_refund(visit=last)

    assert selectors.member_paid_visit_bounds(member_id=member.pk) == (JUNE, JUNE)


def test_paid_visit_bounds_of_a_member_without_paid_visits(member, record_visit):
    services.visit_cancel(visit=record_visit(member, paid_at=MAY))

    assert selectors.member_paid_visit_bounds(member_id=member.pk) == (None, None)


def stale() -> set[int]:
    return set(selectors.members_with_stale_stats().values_list("pk", flat=True))


def test_no_member_is_stale_when_the_services_kept_the_stats(record_visit):
    with_visits, cancelled_only, newcomer = MemberFactory.create_batch(3)
    record_visit(with_visits, paid_at=MAY)
    record_visit(with_visits, paid_at=JUNE, amount_paid="0.10")
    services.visit_cancel(visit=record_visit(cancelled_only, paid_at=MAY))

    assert stale() == set()


@pytest.mark.parametrize(
    "drift",
    [
        {"visits_count": 3},
        {"total_spent": Decimal("2999.99")},
        {"first_visit_at": None},
        {"first_visit_at": MAY},
        {"last_visit_at": None},
        {"last_visit_at": JULY},
    ],
    ids=lambda d: next(iter(d)) + ("=None" if None in d.values() else ""),
)
def test_a_member_is_stale_when_any_cached_stat_differs(record_visit, drift):
    drifted, fine = MemberFactory.create_batch(2)
    for member in (drifted, fine):
        record_visit(member, paid_at=JUNE)
    Member.objects.filter(pk=drifted.pk).update(**drift)

    assert stale() == {drifted.pk}


def test_a_member_without_visits_is_stale_when_the_cache_claims_some():
    ghost = MemberFactory()
    Member.objects.filter(pk=ghost.pk).update(last_visit_at=JUNE)

    assert stale() == {ghost.pk}


def test_member_stats_expressions_give_the_truth(record_visit):
    member = MemberFactory()
    record_visit(member, paid_at=MAY)
    record_visit(member, paid_at=JULY, amount_paid="1234.56")
    services.visit_refund(visit=record_visit(member, paid_at=JUNE))

    truth = (
        Member.objects.filter(pk=member.pk)
        .annotate(
            **{f"true_{k}": v for k, v in selectors.member_stats_expressions().items()}
        )
        .values(
            "true_visits_count",
            "true_total_spent",
            "true_first_visit_at",
            "true_last_visit_at",
        )
        .get()
    )

    assert truth == {
        "true_visits_count": 2,
        "true_total_spent": Decimal("4234.56"),
        "true_first_visit_at": MAY,
        "true_last_visit_at": JULY,
    }


def test_recent_visits_newest_first_with_lines_in_three_queries(
    member, record_visit, addon, django_assert_num_queries
):
    # Given visits of this member (one cancelled) and of someone else
    record_visit(member, paid_at=MAY)
    services.visit_cancel(visit=record_visit(member, paid_at=JULY))
    record_visit(
        member,
        paid_at=JUNE,
        lines=[
            VisitLineInput(service=addon, quantity=2),
            VisitLineInput(service=addon),
        ],
    )
    record_visit(MemberFactory(), paid_at=JUNE)

    # When the history is read with its lines and services: visits + locations,
    # lines, services
    with django_assert_num_queries(3):
        history = [
            (
                v.paid_at,
                v.status,
                v.location.name,
                [ln.service.name for ln in v.lines.all()],
            )
            for v in selectors.member_recent_visits(member=member)
        ]

    assert [(paid_at, status) for paid_at, status, _loc, _lines in history] == [
        (JULY, Visit.Status.CANCELLED),
        (JUNE, Visit.Status.PAID),
        (MAY, Visit.Status.PAID),
    ]
    assert history[1][3] == ["Aromatherapy add-on", "Aromatherapy add-on"]


def test_recent_visits_are_limited(member, record_visit):
    for day in range(1, 6):
        record_visit(member, paid_at=moscow(2025, 6, day, 12, 0))

    recent = list(selectors.member_recent_visits(member=member, limit=2))

    assert [v.paid_at for v in recent] == [
        moscow(2025, 6, 5, 12, 0),
        moscow(2025, 6, 4, 12, 0),
    ]
