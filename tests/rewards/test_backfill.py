"""points_backfill: the points history of members who have visits but no wallet.

Visits are recorded through ``members.services`` with the visit reactions
switched off, as the demo generator or an import leaves them: paid visits and
no wallet. The backfill must then give the books the live path would keep.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from members import services as member_services
from members.services import VisitLineInput
from rewards import backfill
from rewards.models import (
    CategoryEarnRate,
    LedgerEntry,
    LotAllocation,
    PointLot,
    TierChange,
    Wallet,
)
from rewards.verify import ledger_verify
from tests.conftest import moscow
from tests.factories import MemberFactory, ServiceFactory
from tests.rewards.conftest import (
    assert_books_balance,
    entries,
    give_points,
    lots,
    program_set,
    row_counts,
    tier,
    wallet_of,
)

NOW = moscow(2026, 11, 24, 12, 0)


@pytest.fixture(autouse=True)
def history_without_wallets(settings):
    """Visits recorded as seed_demo or an import leaves them: no points yet."""
    settings.REGULARS_VISIT_REACTIONS = []
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def visits(record_visit):
    """Record paid visits of ``member`` on the given days, at noon in Moscow."""

    def record(member, *days: date, **kwargs):
        return [
            record_visit(member, paid_at=moscow(d.year, d.month, d.day, 12), **kwargs)
            for d in days
        ]

    return record


def run(**kwargs):
    kwargs.setdefault("spend_every", 0)
    return backfill.points_backfill(now=NOW, **kwargs)


def earn_keys(member) -> list[str]:
    return [e.idempotency_key for e in entries(member) if e.kind == "earn"]


@pytest.mark.django_db
def test_each_paid_visit_earns_a_lot_and_cancelled_visits_earn_nothing(member, visits):
    """Given three paid visits of 3 000 and a cancelled one (5 points per 100)."""
    paid = visits(member, date(2026, 3, 1), date(2026, 5, 1), date(2026, 7, 1))
    (cancelled,) = visits(member, date(2026, 6, 1))
    member_services.visit_cancel(visit=cancelled, reason="no-show")

    stats = run()

    assert (stats.members, stats.entries, stats.lots) == (1, 3, 3)
    assert earn_keys(member) == [f"earn:visit:{v.pk}" for v in paid]
    chain = entries(member)
    assert [e.amount for e in chain] == [150, 150, 150]
    assert [e.balance_after for e in chain] == [150, 300, 450]
    assert chain[0].reason == "earn_visit"
    assert chain[0].visit_id == paid[0].pk
    assert chain[0].created_at == paid[0].paid_at
    assert chain[0].params == {
        "visit": paid[0].pk,
        "date": "2026-03-01",
        "paid": "3000.00",
        "rate": "5.00",
        "tier": "Base",
        "mode": "points",
        "pending_days": 0,
    }
    assert [(lot.amount, lot.remaining, lot.expires_on) for lot in lots(member)] == [
        (150, 150, date(2027, 3, 1)),
        (150, 150, date(2027, 5, 1)),
        (150, 150, date(2027, 7, 1)),
    ]
    wallet = wallet_of(member)
    assert (wallet.available, wallet.pending, wallet.debt) == (450, 0, 0)
    assert wallet.tier == tier("base")
    assert wallet.tier_since == paid[0].paid_at
    assert not LedgerEntry.objects.filter(visit=cancelled).exists()
    assert_books_balance(member)


@pytest.mark.django_db
def test_lots_past_their_expiry_are_left_for_the_nightly_job(member, visits):
    visits(member, date(2025, 10, 1), date(2026, 10, 1))

    run()

    assert [(lot.remaining, lot.expired) for lot in lots(member)] == [
        (150, 0),
        (150, 0),
    ]
    assert lots(member)[0].expires_on == date(2026, 10, 1) < NOW.date()
    assert not LedgerEntry.objects.filter(kind="expire").exists()
    assert wallet_of(member).available == 300
    assert_books_balance(member)


@pytest.mark.django_db
def test_points_follow_the_tier_held_at_each_visit(member, visits):
    """Silver needs 5 visits in the window: the 5th upgrades, the 6th earns ×1.25."""
    paid = visits(member, *[date(2026, m, 10) for m in range(1, 7)])

    run()

    chain = entries(member)
    assert [e.amount for e in chain] == [150, 150, 150, 150, 150, 187]
    assert chain[-1].params["tier"] == "Silver"
    assert chain[-1].params["rate"] == "6.25"  # 5 per 100 × 1.25
    wallet = wallet_of(member)
    assert wallet.tier == tier("silver")
    assert wallet.tier_since == paid[4].paid_at
    history = TierChange.objects.filter(member=member).order_by("changed_at", "id")
    assert [
        (c.from_tier_id, c.to_tier.code, c.reason, c.visit_id) for c in history
    ] == [
        (None, "base", "joined", None),
        (tier("base").pk, "silver", "upgrade", paid[4].pk),
    ]
    assert_books_balance(member)


@pytest.mark.django_db
def test_a_tier_lapses_when_its_window_no_longer_qualifies(member, visits):
    """Silver in early 2025, then nothing for a year: the 2026 visit earns at Base."""
    visits(member, *[date(2025, 1, d) for d in (5, 10, 15, 20, 25)])
    (late,) = visits(member, date(2026, 6, 1))

    run()

    assert entries(member)[-1].amount == 150
    assert entries(member)[-1].params["tier"] == "Base"
    wallet = wallet_of(member)
    assert wallet.tier == tier("base")
    assert wallet.tier_since == late.paid_at
    reasons = list(
        TierChange.objects.filter(member=member)
        .order_by("changed_at", "id")
        .values_list("reason", "to_tier__code")
    )
    assert reasons == [
        ("joined", "base"),
        ("upgrade", "silver"),
        ("downgrade", "base"),
    ]
    assert_books_balance(member)


@pytest.mark.django_db
def test_the_final_tier_is_what_the_last_window_qualifies_for(member, visits):
    visits(member, *[date(2025, 9, d) for d in (1, 5, 10, 15, 20)])

    run()

    wallet = wallet_of(member)
    assert wallet.tier == tier("base")
    assert wallet.tier_since == NOW
    assert TierChange.objects.filter(member=member, reason="downgrade").count() == 1


@pytest.mark.django_db
def test_a_spender_pays_half_their_spendable_points_from_the_soonest_lots(
    member, visits
):
    """The first lot has expired by the last visit: the spend draws from the next."""
    first, second, last = visits(
        member, date(2025, 1, 10), date(2026, 2, 1), date(2026, 3, 1)
    )

    stats = run(spend_every=1)

    assert stats.spends == 1
    chain = entries(member)
    assert [(e.kind, e.amount, e.balance_after) for e in chain] == [
        ("earn", 150, 150),
        ("earn", 150, 300),
        ("spend", -75, 225),
        ("earn", 150, 375),
    ]
    spend = chain[2]
    assert spend.idempotency_key == f"spend:visit:{last.pk}"
    assert spend.reason == "spend_visit"
    assert spend.params == {"visit": last.pk, "date": "2026-03-01", "money": "75.00"}
    first_lot, second_lot, _third = lots(member)
    assert dict(
        LotAllocation.objects.filter(entry=spend).values_list("lot_id", "amount")
    ) == {second_lot.pk: -75}
    assert (first_lot.remaining, second_lot.remaining) == (150, 75)
    assert wallet_of(member).available == 375
    assert_books_balance(member)


@pytest.mark.django_db
def test_the_spend_is_capped_by_the_max_share_of_the_bill(member, visits, service):
    program_set(max_points_share=Decimal("1"))  # 1% of 3 000 = 30 points
    visits(member, date(2026, 2, 1), date(2026, 3, 1))

    run(spend_every=1)

    assert [e.amount for e in entries(member)] == [150, -30, 150]
    assert_books_balance(member)


@pytest.mark.django_db
def test_category_rates_and_excluded_services(member, visits, service, category):
    """A premium rate earns more; a service excluded from discounts earns nothing
    but still counts as a visit."""
    CategoryEarnRate.objects.create(category=category, rate=Decimal("10"))
    excluded = ServiceFactory(base_price=Decimal("5000"), excluded_from_discounts=True)
    visits(member, date(2026, 4, 1))
    visits(member, date(2026, 5, 1), lines=[VisitLineInput(service=excluded)])

    run()

    assert [e.amount for e in entries(member)] == [300]
    assert wallet_of(member).available == 300


@pytest.mark.django_db
def test_points_still_pending_at_the_end_are_pending(member, visits):
    program_set(pending_days=7)
    visits(member, date(2026, 10, 1), date(2026, 11, 20))

    run()

    older, recent = lots(member)
    assert older.pending_until is None
    assert recent.pending_until == moscow(2026, 11, 27, 12)
    wallet = wallet_of(member)
    assert (wallet.available, wallet.pending) == (150, 150)
    assert entries(member)[-1].params["pending_days"] == 7
    assert_books_balance(member)


@pytest.mark.django_db
def test_the_ledger_verifier_finds_every_backfilled_chain_sound(visits):
    """Spenders, lots past expiry, tiers going up and down: verify_ledger's
    chain and invariant checks pass on the backfilled books."""
    members = [MemberFactory() for _ in range(6)]
    for n, m in enumerate(members):
        days = [date(2025, 1, 5) + timedelta(days=23 * k) for k in range(4 + 3 * n)]
        visits(m, *days)

    stats = run(spend_every=2)

    assert stats.spends >= 1
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    assert (report.members, report.entries) == (6, LedgerEntry.objects.count())


@pytest.mark.django_db
def test_members_with_a_wallet_are_skipped_and_a_second_run_adds_nothing(visits):
    """Given one member who already earned through the live path and two who
    have only visits."""
    live, anna, boris = MemberFactory(), MemberFactory(), MemberFactory()
    for m in (live, anna, boris):
        visits(m, date(2026, 8, 1))
    give_points(live, 40)
    live_chain = [(e.pk, e.hash) for e in entries(live)]

    first = run(chunk_size=1)
    counts = row_counts()
    second = run(chunk_size=1)

    assert (first.members, first.skipped) == (2, 0)
    assert (second.members, second.entries, second.lots) == (0, 0, 0)
    assert row_counts() == counts
    assert [(e.pk, e.hash) for e in entries(live)] == live_chain
    assert wallet_of(live).available == 40
    for m in (anna, boris):
        assert_books_balance(m)


@pytest.mark.django_db
def test_a_member_who_got_a_wallet_after_the_listing_is_skipped(member, visits):
    """The chunk checks again under the member lock: a visit recorded between
    the listing and the chunk keeps its own wallet."""
    visits(member, date(2026, 8, 1))
    ids = backfill.members_to_backfill()
    give_points(member, 40)

    stats = run(member_ids=ids)

    assert (stats.members, stats.skipped) == (0, 1)
    assert [e.amount for e in entries(member)] == [40]


@pytest.mark.django_db
def test_members_without_paid_visits_get_no_wallet(member, visits):
    (visit,) = visits(member, date(2026, 8, 1))
    member_services.visit_cancel(visit=visit, reason="mistake")
    MemberFactory()

    assert backfill.members_to_backfill() == []
    assert run().members == 0
    assert not Wallet.objects.exists()


@pytest.mark.django_db
def test_the_command_reports_what_it_wrote(visits, capsys):
    for m in (MemberFactory(), MemberFactory()):
        visits(m, date(2026, 8, 1), date(2026, 9, 1))

    call_command("points_backfill", "--no-progress", "--jobs", "1", "--chunk", "1")

    assert Wallet.objects.count() == 2
    assert PointLot.objects.count() == 4
    out = capsys.readouterr().out
    assert "Points history written for 2 member(s)" in out


@pytest.mark.parametrize("args", [["--jobs", "0"], ["--chunk", "0"]])
@pytest.mark.django_db
def test_bad_arguments_are_refused(args):
    with pytest.raises(CommandError):
        call_command("points_backfill", "--no-progress", *args)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="worker processes cannot share SQLite's in-memory test database",
)
@pytest.mark.django_db(transaction=True)
def test_worker_processes_write_the_same_books(program_defaults, location, service):
    """--jobs 2 writes chunks in spawned processes, each on its own connection."""
    members = [MemberFactory() for _ in range(6)]
    for n, m in enumerate(members):
        for k in range(n + 1):
            member_services.visit_record(
                member=m,
                location=location,
                lines=[VisitLineInput(service=service)],
                paid_at=NOW - timedelta(days=30 * (k + 1)),
            )

    stats = backfill.points_backfill(now=NOW, jobs=2, chunk_size=2)

    assert stats.members == 6
    assert stats.entries == sum(range(1, 7)) + stats.spends
    for m in members:
        assert_books_balance(m)
    assert connection.is_usable()
