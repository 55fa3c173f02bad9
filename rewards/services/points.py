"""Points services: earn on a visit, reverse a visit, spend, return, adjust."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member, Service, Visit
from members.money import money
from rewards import selectors
from rewards.models import CategoryEarnRate, LedgerEntry, LotAllocation, PointLot, Tier
from rewards.services.ledger import (
    Kind,
    WalletState,
    debt_settle,
    entry_append,
    entry_by_key,
    lot_open,
    lots_commit,
    lots_draw,
    split_pending,
    wallet_lock,
    wallet_save,
)

MAX_ADJUSTMENT = 10_000_000


# --- Earning ----------------------------------------------------------------


@dataclass(frozen=True)
class EarnLine:
    service: Service
    paid: Decimal  # money actually paid for this line (after discounts and points)


@dataclass(frozen=True)
class EarnCalculation:
    points: int
    paid: Decimal  # money that earned
    rate: Decimal  # effective rate (per 100 paid), tier multiplier included
    multiplier: Decimal
    tier_name: str
    mode: str


def earn_calculate(
    *, lines: list[EarnLine], tier: Tier | None, settings=None, rates=None
) -> EarnCalculation:
    """Points for money paid: Σ paid × rate(category) / 100 × tier multiplier.

    Services excluded from discounts earn nothing unless the settings say so.
    Rounded down once, on the total, so splitting a bill never earns more.
    """
    settings = settings or selectors.program_settings()
    if rates is None:
        rates = dict(CategoryEarnRate.objects.values_list("category_id", "rate"))
    multiplier = tier.points_multiplier if tier else Decimal("1")
    raw = Decimal("0")
    earning_paid = Decimal("0")
    for line in lines:
        if line.service.excluded_from_discounts and not settings.excluded_services_earn:
            continue
        rate = rates.get(line.service.category_id, settings.earn_rate)
        if rate <= 0 or line.paid <= 0:
            continue
        raw += line.paid * rate / 100
        earning_paid += line.paid
    points = int((raw * multiplier).to_integral_value(rounding=ROUND_DOWN))
    effective = (
        (raw * multiplier * 100 / earning_paid) if earning_paid else Decimal("0")
    )
    return EarnCalculation(
        points=points,
        paid=money(earning_paid),
        rate=effective.quantize(Decimal("0.01")),
        multiplier=multiplier,
        tier_name=tier.name if tier else "",
        mode=settings.earn_mode,
    )


def points_earn_for_visit(
    state: WalletState,
    *,
    visit: Visit,
    calc: EarnCalculation,
    actor=None,
    settings=None,
) -> LedgerEntry | None:
    """Credit a visit's points as a lot (pending if the settings hold them).

    Runs inside the visit's transaction with the wallet locked; idempotent by
    the visit (``earn:visit:<id>``). A debt is settled from the new points first.
    """
    if calc.points <= 0:
        return None
    key = f"earn:visit:{visit.pk}"
    existing = entry_by_key(key)
    if existing is not None:
        return existing
    settings = settings or selectors.program_settings()
    now = timezone.now()
    if settings.pending_days:
        state.d_pending += calc.points
    else:
        state.d_available += calc.points
    entry = entry_append(
        state,
        kind=Kind.EARN,
        amount=calc.points,
        key=key,
        reason="earn_visit",
        params={
            "visit": visit.pk,
            "date": timezone.localdate(visit.paid_at).isoformat(),
            "paid": str(calc.paid),
            "rate": str(calc.rate),
            "tier": calc.tier_name,
            "mode": calc.mode,
            "pending_days": settings.pending_days,
        },
        visit=visit,
        actor=actor,
        now=now,
    )
    lot_open(
        state,
        entry=entry,
        amount=calc.points,
        now=now,
        lifetime_days=settings.lot_lifetime_days,
        pending_days=settings.pending_days,
    )
    debt_settle(state, key=f"settle:visit:{visit.pk}", now=now, visit=visit)
    return entry


# --- Spending and returning -------------------------------------------------


def points_spend(
    state: WalletState,
    *,
    points: int,
    key: str,
    reason: str,
    params: dict,
    visit: Visit | None = None,
    voucher=None,
    actor=None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Spend available points, soonest-expiring lots first. Never below zero."""
    now = now or timezone.now()
    if points <= 0:
        raise ValidationError(
            _("Points to spend must be positive."), code="invalid_points"
        )
    if points > state.available:
        raise ValidationError(
            _("Not enough points: %(available)s available, %(points)s needed.")
            % {"available": state.available, "points": points},
            code="points_insufficient",
        )
    moves = lots_draw(state, amount=points, today=timezone.localdate(now))
    drawn, _pending = split_pending(moves)
    if drawn != points:  # the cache said yes, the lots say no: never guess
        raise ValidationError(
            _("The points balance is being checked; try again in a minute."),
            code="points_inconsistent",
        )
    return _debit(
        state,
        kind=Kind.SPEND,
        moves=moves,
        key=key,
        reason=reason,
        params=params,
        visit=visit,
        voucher=voucher,
        actor=actor,
        now=now,
    )


def _debit(
    state: WalletState,
    *,
    kind: str,
    moves: list[tuple[PointLot, int]],
    key: str,
    reason: str,
    params: dict,
    now: datetime,
    visit: Visit | None = None,
    voucher=None,
    actor=None,
    note: str = "",
) -> LedgerEntry:
    """Take the points ``lots_draw`` chose (checked by the caller) off the wallet."""
    points = sum(p for _lot, p in moves)
    state.d_available -= points
    entry = entry_append(
        state,
        kind=kind,
        amount=-points,
        key=key,
        reason=reason,
        params=params,
        note=note,
        visit=visit,
        voucher=voucher,
        actor=actor,
        now=now,
    )
    lots_commit(entry, [(lot, -p) for lot, p in moves])
    return entry


def points_return(
    state: WalletState,
    *,
    spend: LedgerEntry,
    key: str,
    reason: str,
    params: dict,
    actor=None,
    now: datetime | None = None,
) -> LedgerEntry | None:
    """Give back the points of an earlier spend to the lots they came from.

    Lots that expired meanwhile get nothing back: those points would have
    expired anyway; the entry says how many. Idempotent by ``key``.
    """
    existing = entry_by_key(key)
    if existing is not None:
        return existing
    now = now or timezone.now()
    today = timezone.localdate(now)
    allocations = list(
        LotAllocation.objects.filter(entry=spend, amount__lt=0).select_related("lot")
    )
    moves = []
    expired = 0
    for alloc in allocations:
        lot = alloc.lot
        points = -alloc.amount
        if lot.expires_on <= today:
            expired += points
            continue
        lot.remaining += points
        moves.append((lot, points))
    back_avail, back_pending = split_pending(moves)
    returned = back_avail + back_pending
    state.d_available += back_avail
    state.d_pending += back_pending
    entry = entry_append(
        state,
        kind=Kind.REVERSE,
        amount=returned,
        key=key,
        reason=reason,
        params={**params, "points": returned, "expired": expired},
        visit=spend.visit,
        voucher=spend.voucher,
        reverses=spend,
        actor=actor,
        now=now,
    )
    lots_commit(entry, moves)
    return entry


# --- Reversing a visit ------------------------------------------------------


def points_reverse_visit(state: WalletState, *, visit: Visit, actor=None) -> list:
    """Undo a cancelled or refunded visit's points, inside its transaction.

    The earn is taken back from the visit's own lots first, then from the
    member's other points (soonest expiry first); what is still missing
    becomes a recorded debt. Points paid on the visit go back to their lots.
    """
    now = timezone.now()
    today = timezone.localdate(now)
    done = []
    entries = list(
        LedgerEntry.objects.filter(
            visit=visit, kind__in=[Kind.EARN, Kind.SPEND]
        ).order_by("seq")
    )
    for entry in entries:
        if entry.kind == Kind.SPEND:
            done.append(
                points_return(
                    state,
                    spend=entry,
                    key=f"reverse:{entry.pk}",
                    reason="return_visit",
                    params={"visit": visit.pk, "status": visit.status},
                    actor=actor,
                    now=now,
                )
            )
            continue
        key = f"reverse:{entry.pk}"
        if entry_by_key(key) is not None:
            continue
        own = list(PointLot.objects.filter(entry=entry, remaining__gt=0))
        moves = lots_draw(
            state, amount=entry.amount, today=today, include_pending=True, first=own
        )
        back_avail, back_pending = split_pending(moves)
        taken = back_avail + back_pending
        shortfall = entry.amount - taken
        state.d_available -= back_avail
        state.d_pending -= back_pending
        state.d_debt += shortfall
        rev = entry_append(
            state,
            kind=Kind.REVERSE,
            amount=-taken,
            debt_change=shortfall,
            key=key,
            reason="reverse_visit",
            params={
                "visit": visit.pk,
                "status": visit.status,
                "points": entry.amount,
                "debt": shortfall,
            },
            visit=visit,
            reverses=entry,
            actor=actor,
            now=now,
        )
        lots_commit(rev, [(lot, -p) for lot, p in moves])
        done.append(rev)
    return done


# --- Manual adjustment ------------------------------------------------------


@transaction.atomic
def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    actor,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """A manager adds or removes points, with a reason the member will read.

    A positive adjustment is a new lot (normal lifetime); a negative one takes
    points soonest-expiring first and cannot go below the available balance.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {
                "reason": ValidationError(
                    _("Say why the points change."), code="required"
                )
            }
        )
    if not isinstance(points, int) or points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise ValidationError(
            {
                "points": ValidationError(
                    _("Enter a whole number of points other than 0, at most %(max)s.")
                    % {"max": MAX_ADJUSTMENT},
                    code="invalid_points",
                )
            }
        )
    now = timezone.now()
    state = wallet_lock(member.pk, now=now)
    key = idempotency_key or f"adjust:{member.pk}:{state.wallet.seq + 1}"
    existing = entry_by_key(key)
    if existing is not None:
        return existing
    settings = selectors.program_settings()
    if points > 0:
        entry = _credit(
            state,
            kind=Kind.ADJUST,
            points=points,
            key=key,
            reason="adjust",
            params={"points": points},
            note=reason,
            actor=actor,
            now=now,
            lifetime_days=settings.lot_lifetime_days,
        )
    else:
        moves = lots_draw(state, amount=-points, today=timezone.localdate(now))
        # The lots, not the cached balance, say what can be taken: a lot past
        # its date still counts in ``available`` until the nightly expiry runs.
        spendable = min(split_pending(moves)[0], state.available)
        if -points > spendable:
            raise ValidationError(
                {
                    "points": ValidationError(
                        _("The member has only %(available)s points available.")
                        % {"available": spendable},
                        code="points_insufficient",
                    )
                }
            )
        entry = _debit(
            state,
            kind=Kind.ADJUST,
            moves=moves,
            key=key,
            reason="adjust",
            params={"points": points},
            note=reason,
            actor=actor,
            now=now,
        )
    wallet_save(state)
    return entry


@transaction.atomic
def points_bonus(
    *,
    member: Member,
    points: int,
    key: str,
    reason: str,
    params: dict | None = None,
    lifetime_days: int | None = None,
    actor=None,
) -> LedgerEntry:
    """Credit bonus points (welcome, referral, campaign) as a lot of their own.

    Idempotent by ``key``; the later referral and campaign work call this.
    """
    if points <= 0:
        raise ValidationError(
            _("Bonus points must be positive."), code="invalid_points"
        )
    now = timezone.now()
    state = wallet_lock(member.pk, now=now)
    existing = entry_by_key(key)
    if existing is not None:
        return existing
    settings = selectors.program_settings()
    entry = _credit(
        state,
        kind=Kind.BONUS,
        points=points,
        key=key,
        reason=reason,
        params={"points": points, **(params or {})},
        actor=actor,
        now=now,
        lifetime_days=lifetime_days or settings.lot_lifetime_days,
    )
    wallet_save(state)
    return entry


def _credit(
    state: WalletState,
    *,
    kind: str,
    points: int,
    key: str,
    reason: str,
    params: dict,
    now,
    lifetime_days: int,
    actor=None,
    note: str = "",
) -> LedgerEntry:
    """Credit spendable points as a new lot; a points debt is settled first."""
    state.d_available += points
    entry = entry_append(
        state,
        kind=kind,
        amount=points,
        key=key,
        reason=reason,
        params=params,
        note=note,
        actor=actor,
        now=now,
    )
    lot_open(state, entry=entry, amount=points, now=now, lifetime_days=lifetime_days)
    debt_settle(state, key=f"settle:{key}", now=now, actor=actor)
    return entry
