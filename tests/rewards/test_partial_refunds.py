"""Points follow the money back on a partial refund, to the last point.

The shipped program: 5 points per 100 paid. The visit used throughout: one
3 000.00 massage and three 500.00 add-ons (4 500.00 gross) of which 4 000.00
was paid in money, so it earns E = 200 points. Refunding an add-on returns
444.44 of the money: floor(200 × 444.44 / 4000) = 22 points taken back.
Visits through the checkout get the 5% welcome discount of a first visit.
"""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from members import services as members_services
from members.models import Visit
from members.services import VisitLineInput
from rewards.explain import entry_text
from rewards.jobs import job_run
from rewards.models import LedgerEntry, Tier, Voucher
from rewards.selectors import tier_window_stats
from rewards.services import reward_redeem
from rewards.verify import ledger_verify
from tests.conftest import error_codes, moscow
from tests.factories import RewardFactory
from tests.members.test_concurrency import errors_of, race
from tests.rewards.conftest import (
    allocations,
    assert_books_balance,
    balances,
    entries,
    give_points,
    lots,
    program_set,
    wallet_of,
)

pytestmark = pytest.mark.django_db

NOW = moscow(2026, 11, 18, 15, 0)
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock(program_defaults):
    with time_machine.travel(NOW, tick=False), translation.override("en"):
        yield


@pytest.fixture
def bill(service, addon):
    """A massage and three add-ons: 4 500.00 at list prices."""
    return [VisitLineInput(service=service), VisitLineInput(service=addon, quantity=3)]


@pytest.fixture
def visit(member, record_visit, bill):
    return record_visit(member, lines=bill, amount_paid="4000")


def lines_of(visit):
    massage, aroma = visit.lines.order_by("pk")
    return massage, aroma


def refund(visit, lines, key):
    return members_services.visit_refund_partial(visit=visit, lines=lines, key=key)


def earn_of(visit) -> LedgerEntry:
    return LedgerEntry.objects.get(visit=visit, kind=Kind.EARN)


def spend_of(visit) -> LedgerEntry:
    return LedgerEntry.objects.get(visit=visit, kind=Kind.SPEND)


def reversals(entry, reason=None) -> list[LedgerEntry]:
    qs = LedgerEntry.objects.filter(reverses=entry).order_by("seq")
    if reason:
        qs = qs.filter(reason=reason)
    return list(qs)


def assert_ledger_clean(member) -> None:
    """Lots ↔ allocations ↔ balances and the chain, by the nightly check too."""
    assert_books_balance(member)
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


# --- Earned points: pro rata, adding up to E ---------------------------------


def test_partial_refunds_take_back_the_earned_points_to_the_last_one(member, visit):
    massage, aroma = lines_of(visit)
    earn = earn_of(visit)
    assert earn.amount == 200
    assert balances(member) == (200, 0, 0)

    # When two add-ons are refunded one by one, then the rest
    first = refund(visit, [(aroma, 1)], "r1")
    second = refund(visit, [(aroma, 1)], "r2")
    last = refund(visit, [(massage, 1), (aroma, 1)], "r3")

    # Then each refund takes back its share: floor(200 × refunded / paid) so far
    taken = reversals(earn)
    assert [(e.reason, e.amount, e.debt_change) for e in taken] == [
        ("reverse_partial", -22, 0),
        ("reverse_partial", -22, 0),
        ("reverse_partial", -156, 0),
    ]
    assert sum(e.params["points"] for e in taken) == earn.amount
    assert [e.idempotency_key for e in taken] == [
        f"reverse_partial:{first.pk}",
        f"reverse_partial:{second.pk}",
        f"reverse_partial:{last.pk}",
    ]
    assert taken[0].params == {
        "visit": visit.pk,
        "refund": first.pk,
        "date": "2026-11-18",
        "points": 22,
        "debt": 0,
    }
    assert all(e.visit == visit for e in taken)
    # And the visit, refunded by its last unit, has nothing left to reverse
    visit.refresh_from_db()
    assert visit.status == Visit.Status.REFUNDED
    assert not LedgerEntry.objects.filter(reason="reverse_visit").exists()
    assert balances(member) == (0, 0, 0)
    assert_ledger_clean(member)


def test_partial_refunds_take_back_from_the_visits_own_lot_first(
    member, record_visit, bill
):
    # Given older points that expire sooner than the visit's own
    older = give_points(member, 100, lifetime_days=30).lots.get()
    visit = record_visit(member, lines=bill, amount_paid="4000")
    own = earn_of(visit).lots.get()
    _massage, aroma = lines_of(visit)

    done = refund(visit, [(aroma, 1)], "r1")

    entry = LedgerEntry.objects.get(idempotency_key=f"reverse_partial:{done.pk}")
    assert allocations(entry) == {own.pk: -22}
    older.refresh_from_db()
    assert older.remaining == 100
    assert balances(member) == (278, 0, 0)
    assert_ledger_clean(member)


@pytest.mark.parametrize(
    "reverse, status",
    [
        (members_services.visit_refund, "refunded"),
        (members_services.visit_cancel, "cancelled"),
    ],
    ids=["refund", "cancel"],
)
def test_a_full_reversal_after_a_partial_takes_back_only_the_rest(
    member, visit, reverse, status
):
    _massage, aroma = lines_of(visit)
    earn = earn_of(visit)
    refund(visit, [(aroma, 1)], "r1")
    assert balances(member) == (178, 0, 0)

    reverse(visit=visit)

    taken = reversals(earn)
    assert [(e.reason, e.amount) for e in taken] == [
        ("reverse_partial", -22),
        ("reverse_visit", -178),
    ]
    assert taken[1].params == {
        "visit": visit.pk,
        "status": status,
        "points": 178,
        "debt": 0,
    }
    assert balances(member) == (0, 0, 0)
    assert_ledger_clean(member)


def test_the_same_refund_sent_again_takes_nothing_more(member, visit):
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 2)], "r1")
    after = (balances(member), len(entries(member)))

    refund(visit, [(aroma, 2)], "r1")

    assert (balances(member), len(entries(member))) == after
    assert balances(member) == (156, 0, 0)  # floor(200 × 888.89 / 4000) = 44


def test_a_refund_of_points_already_spent_becomes_a_debt(member, visit):
    # Given 190 of the visit's 200 points spent on a reward
    massage, aroma = lines_of(visit)
    reward_redeem(
        member=member, reward=RewardFactory(points_cost=190), idempotency_key="v"
    )
    assert balances(member) == (10, 0, 0)

    # When the massage is refunded (2 666.67: 133 points)
    refund(visit, [(massage, 1)], "r1")

    # Then the 10 left are taken back and 123 become a debt
    rev = entries(member)[-1]
    assert (rev.reason, rev.amount, rev.debt_change, rev.debt_after) == (
        "reverse_partial",
        -10,
        123,
        123,
    )
    assert rev.params["points"] == 133
    assert balances(member) == (0, 0, 123)
    assert entry_text(rev) == (
        "133 points taken back: part of the visit on 18 November 2026 was refunded "
        "(123 points were already spent: they will be settled from future points)"
    )

    # And the rest of the visit adds the other 67 to the debt: 190 in all
    refund(visit, [(aroma, 3)], "r2")
    assert balances(member) == (0, 0, 190)
    assert_ledger_clean(member)


def test_pending_points_are_taken_back_while_still_pending(member, record_visit, bill):
    program_set(pending_days=14)
    visit = record_visit(member, lines=bill, amount_paid="4000")
    _massage, aroma = lines_of(visit)
    assert balances(member) == (0, 200, 0)

    refund(visit, [(aroma, 1)], "r1")

    assert balances(member) == (0, 178, 0)
    assert lots(member)[0].remaining == 178
    assert_ledger_clean(member)


def test_a_visit_paid_entirely_in_points_gets_them_back_by_list_price(
    member, checkout, addon
):
    # Given three add-ons (1 425.00 after the welcome discount) paid entirely
    # in points, so no money and no points earned
    program_set(max_points_share=Decimal("100"))
    give_points(member, 2000)
    visit = checkout(
        member, lines=[VisitLineInput(service=addon, quantity=3)], points_to_use=1425
    ).visit
    assert visit.amount_paid == Decimal("0.00")
    assert not LedgerEntry.objects.filter(visit=visit, kind=Kind.EARN).exists()
    (line,) = visit.lines.all()

    # When one add-on is refunded: no money back, a third of the points back
    done = refund(visit, [(line, 1)], "r1")

    assert done.amount == Decimal("0.00")
    assert reversals(spend_of(visit))[0].amount == 475
    assert balances(member) == (1050, 0, 0)
    assert_ledger_clean(member)


# --- Points paid on the visit: back pro rata, adding up to P --------------------


@pytest.fixture
def paid_with_points(member, checkout, bill):
    """600 points expiring in 30 days and 600 in a year; 900 paid on the visit."""
    give_points(member, 600, lifetime_days=30)
    give_points(member, 600)
    visit = checkout(member, lines=bill, points_to_use=900).visit
    return visit


def test_points_paid_go_back_pro_rata_latest_expiring_lots_first(
    member, paid_with_points
):
    visit = paid_with_points
    soon, later = lots(member)[:2]
    spend = spend_of(visit)
    assert spend.amount == -900
    assert allocations(spend) == {soon.pk: -600, later.pk: -300}
    massage, aroma = lines_of(visit)

    # When one add-on (1/9 of the gross) is refunded, then another
    first = refund(visit, [(aroma, 1)], "r1")
    refund(visit, [(aroma, 1)], "r2")

    # Then 100 points come back each time, to the lot expiring last
    back = reversals(spend)
    assert [(e.reason, e.amount) for e in back] == [
        ("return_partial", 100),
        ("return_partial", 100),
    ]
    assert back[0].idempotency_key == f"return_partial:{first.pk}"
    assert back[0].params == {
        "visit": visit.pk,
        "refund": first.pk,
        "date": "2026-11-18",
        "points": 100,
        "expired": 0,
    }
    assert [allocations(e) for e in back] == [{later.pk: 100}, {later.pk: 100}]
    assert entry_text(back[0]) == (
        "100 points back: part of the visit on 18 November 2026 was refunded"
    )

    # When the rest is refunded
    refund(visit, [(massage, 1), (aroma, 1)], "r3")

    # Then the other 700 go back where they came from: 900 in all
    back = reversals(spend)
    assert [e.amount for e in back] == [100, 100, 700]
    assert allocations(back[2]) == {later.pk: 100, soon.pk: 600}
    soon.refresh_from_db()
    later.refresh_from_db()
    assert (soon.remaining, later.remaining) == (600, 600)
    # And the earn is gone too: the member is back at the 1 200 they had
    assert balances(member) == (1200, 0, 0)
    assert_ledger_clean(member)


@pytest.mark.parametrize(
    "reverse",
    [members_services.visit_refund, members_services.visit_cancel],
    ids=["refund", "cancel"],
)
def test_a_full_reversal_returns_only_the_points_not_yet_returned(
    member, paid_with_points, reverse
):
    visit = paid_with_points
    spend = spend_of(visit)
    earn = earn_of(visit)
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 2)], "r1")  # 2/9 of the gross: 200 points

    reverse(visit=visit)

    assert [(e.reason, e.amount) for e in reversals(spend)] == [
        ("return_partial", 200),
        ("return_visit", 700),
    ]
    assert sum(-e.amount for e in reversals(earn)) == earn.amount
    assert balances(member) == (1200, 0, 0)
    assert_ledger_clean(member)


def test_points_of_a_lot_that_expired_meanwhile_are_not_given_back(
    member, paid_with_points
):
    # Given the 30-day lot past its date when the massage is refunded
    visit = paid_with_points
    spend = spend_of(visit)
    soon, later = lots(member)[:2]
    massage, aroma = lines_of(visit)

    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        # 3000 / 4500 of 900: 600 points, 300 to the live lot, 300 expired
        refund(visit, [(massage, 1)], "r1")
        first = reversals(spend)[-1]
        assert (first.amount, first.params["expired"]) == (300, 300)
        assert allocations(first) == {later.pk: 300}

        # And the rest handles the other 300, expired too: none comes back twice
        refund(visit, [(aroma, 3)], "r2")

    rest = reversals(spend)[-1]
    assert (rest.amount, rest.params["points"], rest.params["expired"]) == (0, 0, 300)
    assert allocations(rest) == {}
    later.refresh_from_db()
    assert later.remaining == 600
    assert_ledger_clean(member)


# --- Vouchers and tiers ---------------------------------------------------------


def test_a_voucher_used_on_the_visit_stays_used_until_the_last_unit(
    member, checkout, bill
):
    give_points(member, 100)
    voucher = reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="v"
    )
    visit = checkout(member, lines=bill, voucher_codes=[voucher.code]).visit
    massage, aroma = lines_of(visit)

    refund(visit, [(aroma, 3)], "r1")
    voucher.refresh_from_db()
    assert (voucher.status, voucher.visit) == (Voucher.Status.USED, visit)

    refund(visit, [(massage, 1)], "r2")
    voucher.refresh_from_db()
    assert (voucher.status, voucher.visit) == (Voucher.Status.ACTIVE, None)


def test_refunded_money_does_not_count_towards_a_tier(member, visit):
    _massage, aroma = lines_of(visit)
    tier_before = wallet_of(member).tier

    # When an add-on is refunded, the tier does not change on the spot
    refund(visit, [(aroma, 1)], "r1")
    assert wallet_of(member).tier == tier_before

    # But the window counts only the money the member kept
    stats = tier_window_stats(member_id=member.pk)
    assert (stats.visits, stats.spend) == (1, Decimal("3555.56"))

    # And so does the nightly review: Silver at 4 000.00 spent is not reached
    Tier.objects.filter(code="silver").update(
        min_visits=None, min_spend=Decimal("4000.00")
    )
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        outcome = job_run("review_tiers", (NOW + timedelta(days=1)).date())
    assert outcome.status == "done", outcome
    assert wallet_of(member).tier == tier_before
    assert_ledger_clean(member)


def test_the_nightly_review_counts_the_money_kept_once_it_meets_the_threshold(
    member, visit
):
    # The other side of the same rule: 3 555.56 kept reaches a 3 555.56 threshold
    _massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 1)], "r1")
    Tier.objects.filter(code="silver").update(
        min_visits=None, min_spend=Decimal("3555.56")
    )

    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        job_run("review_tiers", (NOW + timedelta(days=1)).date())

    assert wallet_of(member).tier.code == "silver"


# --- The nightly check ------------------------------------------------------------


def test_verify_ledger_passes_after_every_kind_of_refund(member, paid_with_points):
    visit = paid_with_points
    massage, aroma = lines_of(visit)
    refund(visit, [(aroma, 1)], "r1")
    refund(visit, [(massage, 1)], "r2")
    members_services.visit_cancel(visit=visit)

    out = StringIO()
    call_command("verify_ledger", stdout=out, stderr=StringIO())  # raises if not

    assert ledger_verify().ok
    assert_books_balance(member)


# --- Races (PostgreSQL) ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite has no row locks to race on",
)
@pytest.mark.django_db(transaction=True)
def test_a_partial_refund_racing_a_cancel_never_reverses_a_point_twice(
    member, paid_with_points
):
    visit = paid_with_points
    earn, spend = earn_of(visit), spend_of(visit)
    _massage, aroma = lines_of(visit)

    outcomes = race(
        2,
        lambda i: (
            refund(visit, [(aroma, 1)], "r1")
            if i == 0
            else members_services.visit_cancel(visit=visit)
        ),
    )

    # Whichever came first, the cancel went through and the refund either
    # before it or refused as too late; every point is back exactly once
    errors = errors_of(outcomes)
    assert all(error_codes(e) == {"visit_not_paid"} for e in errors), errors
    visit.refresh_from_db()
    assert visit.status == Visit.Status.CANCELLED
    assert sum(e.params["points"] for e in reversals(earn)) == earn.amount
    assert sum(e.amount for e in reversals(spend)) == -spend.amount
    assert balances(member) == (1200, 0, 0)
    assert_ledger_clean(member)
