"""Races the services must win: real threads, real row locks, PostgreSQL only.

Each thread has its own database connection (Django's are per thread), waits at
a barrier so all of them hit the service together, and closes its connection
at the end.
"""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from members import services
from members.models import Visit, VisitLine
from members.services import VisitLineInput
from tests.conftest import error_codes, moscow, stats_of
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8


def race(n, work):
    """Run ``work(i)`` in ``n`` threads released together.

    Returns one outcome per thread: ``("ok", value)`` or ``("error", exc)``.
    """
    barrier = threading.Barrier(n)
    outcomes = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=30)
            outcomes[i] = ("ok", work(i))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcomes[i] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return outcomes


def errors_of(outcomes):
    return [value for kind, value in outcomes if kind == "error"]


def test_the_same_booking_sent_at_once_by_many_callers_records_once(
    member, location, service
):
    paid_at = moscow(2025, 6, 9, 19, 0)

    outcomes = race(
        THREADS,
        lambda _i: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service)],
            paid_at=paid_at,
            source=Visit.Source.POS,
            external_id="booking-42",
        ),
    )

    assert errors_of(outcomes) == []
    results = [value for _kind, value in outcomes]
    assert Counter(r.created for r in results) == {True: 1, False: THREADS - 1}
    assert {r.visit.pk for r in results} == {Visit.objects.get().pk}
    assert VisitLine.objects.count() == 1
    assert stats_of(member) == (1, Decimal("3000.00"), paid_at, paid_at)


def test_one_booking_id_claimed_for_many_members_at_once_goes_to_one(location, service):
    # Different members are not serialised by the member lock: the unique
    # constraint decides, and the losers see a conflict, not an error 500.
    members = MemberFactory.create_batch(THREADS)

    outcomes = race(
        THREADS,
        lambda i: services.visit_record(
            member=members[i],
            location=location,
            lines=[VisitLineInput(service=service)],
            paid_at=moscow(2025, 6, 9, 19, 0),
            source=Visit.Source.POS,
            external_id="booking-42",
        ),
    )

    errors = errors_of(outcomes)
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, ValidationError) for e in errors), errors
    assert all(error_codes(e) == {"external_id_conflict"} for e in errors)
    visit = Visit.objects.get()
    assert [stats_of(m)[0] for m in members] == [
        1 if m.pk == visit.member_id else 0 for m in members
    ]


def test_many_visits_for_one_member_at_once_all_count(member, location, service):
    prices = [Decimal("1000.10") + i for i in range(THREADS)]

    outcomes = race(
        THREADS,
        lambda i: services.visit_record(
            member=member,
            location=location,
            lines=[VisitLineInput(service=service, price=prices[i])],
            paid_at=moscow(2025, 6, 1 + i, 12, 0),
        ),
    )

    assert errors_of(outcomes) == []
    assert Visit.objects.filter(member=member).count() == THREADS
    assert stats_of(member) == (
        THREADS,
        sum(prices),
        moscow(2025, 6, 1, 12, 0),
        moscow(2025, 6, THREADS, 12, 0),
    )
    assert services.member_stats_reconcile() == 0


@pytest.mark.parametrize("round_", range(5))
def test_cancel_racing_refund_on_one_visit_one_wins(
    member, record_visit, admin_user, round_
):
    # Given a member with two visits
    kept = record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0))
    raced = record_visit(member, paid_at=moscow(2025, 6, 1, 12, 0))
    reversals = [services.visit_cancel, services.visit_refund]

    # When one clerk cancels while another refunds the same visit
    outcomes = race(
        2,
        lambda i: reversals[i](visit=raced, reason=f"clerk {i}", actor=admin_user),
    )

    # Then exactly one wins, the other is told the visit is no longer paid
    errors = errors_of(outcomes)
    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError), errors[0]
    assert errors[0].code == "visit_not_paid"
    winner = next(i for i, (kind, _v) in enumerate(outcomes) if kind == "ok")
    raced.refresh_from_db()
    assert raced.status == (Visit.Status.CANCELLED, Visit.Status.REFUNDED)[winner]
    assert raced.status_reason == f"clerk {winner}"
    # And the stats are reversed once
    assert stats_of(member) == (1, Decimal("3000.00"), kept.paid_at, kept.paid_at)


def test_cancels_of_different_visits_of_one_member_at_once_all_count(
    member, record_visit
):
    visits = [
        record_visit(member, paid_at=moscow(2025, 6, 1 + i, 12, 0))
        for i in range(THREADS)
    ]

    outcomes = race(THREADS, lambda i: services.visit_cancel(visit=visits[i]))

    assert errors_of(outcomes) == []
    assert stats_of(member) == (0, Decimal("0.00"), None, None)
