"""Shared helpers for the rewards tests: the program's settings and tiers, points
given through the services, and checks on the ledger's hash chain.

Points are never created by writing rows: ``give_points`` goes through
``points_bonus`` (a lot of its own, with its own lifetime) and ``adjust``
through ``points_adjust``, so the wallet, lots and chain always agree.
"""

import importlib
import itertools
from datetime import date

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model

from members.models import Member, Visit, VisitLine
from members.services import VisitLineInput
from rewards import services
from rewards.models import (
    LedgerEntry,
    LotAllocation,
    PointLot,
    ProgramSettings,
    Reward,
    Tier,
    TierChange,
    VisitBenefit,
    Voucher,
    Wallet,
)
from rewards.selectors import program_settings
from rewards.services.ledger import entry_hash

_keys = itertools.count(1)


# --- Program settings and tiers ---------------------------------------------


def program_set(**fields) -> ProgramSettings:
    """Change the program's settings row for this test."""
    program = program_settings()
    for name, value in fields.items():
        setattr(program, name, value)
    program.save()
    return program


def tier(code: str) -> Tier:
    return Tier.objects.get(code=code)


@pytest.fixture
def program_defaults(db):
    """The shipped settings and four tiers, also after a transactional test's flush.

    ``django_db(transaction=True)`` empties every table between tests, data
    migration rows included; this puts them back the way migration 0002 does.
    """
    migration = importlib.import_module(
        "rewards.migrations.0002_ledger_append_only_and_defaults"
    )
    migration.defaults(django_apps, None)
    return program_settings()


@pytest.fixture
def checkout(location, service):
    """``checkout_commit`` at ``location``, one line of ``service`` by default."""

    def run(member, *, lines=None, **kwargs):
        kwargs.setdefault("location", location)
        return services.checkout_commit(
            member=member, lines=lines or [VisitLineInput(service=service)], **kwargs
        )

    return run


@pytest.fixture
def quote(location, service):
    """``checkout_quote`` at ``location``, one line of ``service`` by default."""

    def run(member, *, lines=None, **kwargs):
        kwargs.setdefault("location", location)
        return services.checkout_quote(
            member=member, lines=lines or [VisitLineInput(service=service)], **kwargs
        )

    return run


@pytest.fixture
def manager(db):
    return get_user_model().objects.create_user(
        username="olga", password="x", is_staff=True
    )


# --- Points through the services --------------------------------------------


def give_points(
    member: Member, points: int, *, lifetime_days: int | None = None, key=None
) -> LedgerEntry:
    """Credit ``points`` as one bonus lot (``lifetime_days`` sets its expiry)."""
    return services.points_bonus(
        member=member,
        points=points,
        key=key or f"test-bonus:{next(_keys)}",
        reason="bonus",
        lifetime_days=lifetime_days,
    )


def adjust(member: Member, points: int, *, actor=None, reason="Goodwill"):
    return services.points_adjust(
        member=member, points=points, reason=reason, actor=actor
    )


def tier_set(member: Member, code: str, *, until=None) -> Tier:
    """Put the member on a tier through a manager's override (until 2099)."""
    target = tier(code)
    services.tier_override(
        member=member,
        tier=target,
        until=until or date(2099, 12, 31),
        reason="test setup",
        actor=None,
    )
    return target


# --- Reading the outcome ----------------------------------------------------


def wallet_of(member: Member) -> Wallet:
    return Wallet.objects.select_related("tier").get(pk=member.pk)


def balances(member: Member) -> tuple[int, int, int]:
    """(available, pending, debt), fresh from the database."""
    w = wallet_of(member)
    return w.available, w.pending, w.debt


def entries(member: Member) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(member=member).order_by("seq"))


def lots(member: Member) -> list[PointLot]:
    return list(PointLot.objects.filter(member=member).order_by("id"))


def allocations(entry: LedgerEntry) -> dict[int, int]:
    """{lot id: signed points} the entry moved."""
    return dict(
        LotAllocation.objects.filter(entry=entry).values_list("lot_id", "amount")
    )


def assert_books_balance(member: Member) -> None:
    """The wallet equals its lots, every lot equals its allocations, the chain holds."""
    w = wallet_of(member)
    open_lots = PointLot.objects.filter(member=member)
    available = sum(lot.remaining for lot in open_lots if lot.pending_until is None)
    pending = sum(lot.remaining for lot in open_lots if lot.pending_until is not None)
    assert (w.available, w.pending) == (available, pending)
    for lot in open_lots:
        moved = sum(
            LotAllocation.objects.filter(lot=lot).values_list("amount", flat=True)
        )
        assert lot.amount + moved == lot.remaining, lot
    assert_chain_intact(member)


def assert_chain_intact(member: Member) -> None:
    """Seqs run 1…n, each entry links to the previous hash and hashes right."""
    chain = entries(member)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    prev = ""
    for entry in chain:
        assert entry.prev_hash == prev, entry
        assert entry_hash(entry) == entry.hash, entry
        prev = entry.hash
    w = Wallet.objects.filter(pk=member.pk).first()
    if chain:
        assert (w.seq, w.last_hash) == (chain[-1].seq, chain[-1].hash)
        assert w.available + w.pending == chain[-1].balance_after
        assert w.debt == chain[-1].debt_after


WATCHED = (
    Visit,
    VisitLine,
    Wallet,
    LedgerEntry,
    PointLot,
    LotAllocation,
    TierChange,
    Voucher,
    VisitBenefit,
    Reward,
)


def row_counts() -> dict[str, int]:
    """How many rows each table the checkout and points touch holds."""
    return {model.__name__: model.objects.count() for model in WATCHED}


def state_of(member: Member) -> tuple:
    """Everything a refused call must leave as it was, for one member."""
    w = Wallet.objects.filter(pk=member.pk).first()
    wallet = (w.available, w.pending, w.debt, w.seq, w.tier_id) if w else None
    return (
        row_counts(),
        wallet,
        sorted(PointLot.objects.filter(member=member).values_list("id", "remaining")),
        sorted(Voucher.objects.filter(member=member).values_list("id", "status")),
        sorted(Reward.objects.values_list("id", "stock")),
    )
