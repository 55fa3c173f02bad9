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
from rewards.models import LedgerEntry, LotAllocation, PointLot, Tier
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
        rates = selectors.category_rates()
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
    new_visit: bool = False,
) -> LedgerEntry | None:
    """Credit a visit's points as a lot (pending if the settings hold them).

    Runs inside the visit's transaction with the wallet locked; idempotent by
    the visit (``earn:visit:<id>``). A debt is settled from the new points first.
    For a visit inserted in this transaction (``new_visit``) nothing can exist
    yet: the key's unique index still guards it, without a look-up first.
    """
    if calc.points <= 0:
        return None
    key = f"earn:visit:{visit.pk}"
    if not new_visit:
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
    amount: int | None = None,
    actor=None,
    now: datetime | None = None,
) -> LedgerEntry | None:
    """Give back the points of an earlier spend to the lots they came from.

    ``amount`` returns only that many (a partial refund); by default all that
    earlier returns left. Points go back last-drawn first (the latest-expiring
    lots), so what earlier returns handled is always the same prefix of that
    order and a later return knows, per lot, what is still out. Lots that
    expired meanwhile get nothing back: those points would have expired
    anyway; the entry says how many. Like every credit, the points returned
    settle a points debt first (``debt_settle``), so no wallet holds points
    and a debt at once. Idempotent by ``key``; returns None when nothing is
    left to return.
    """
    existing = entry_by_key(key)
    if existing is not None:
        return existing
    now = now or timezone.now()
    today = timezone.localdate(now)
    outstanding = _spend_outstanding(spend)
    if amount is not None:
        outstanding = _take(outstanding, amount)
    if not outstanding:
        return None
    moves = []
    expired = 0
    for lot, points in outstanding:
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
    debt_settle(state, key=f"settle:{key}", now=now, actor=actor, visit=spend.visit)
    return entry


def _spend_outstanding(spend: LedgerEntry) -> list[tuple[PointLot, int]]:
    """(lot, points) of ``spend`` no return has handled yet, in return order.

    A return handles points by giving them back or, for a lot past its date,
    by writing them off (``expired``): both count.
    """
    handled = sum(
        int(p.get("points", 0)) + int(p.get("expired", 0))
        for p in LedgerEntry.objects.filter(
            reverses=spend, kind=Kind.REVERSE
        ).values_list("params", flat=True)
    )
    drawn = LotAllocation.objects.filter(entry=spend, amount__lt=0).select_related(
        "lot"
    )
    # The spend drew soonest expiry first (``lots_draw``): return the other way.
    order = sorted(drawn, key=lambda a: (a.lot.expires_on, a.lot_id), reverse=True)
    outstanding = []
    for alloc in order:
        points = -alloc.amount
        skip = min(points, handled)
        handled -= skip
        if points > skip:
            outstanding.append((alloc.lot, points - skip))
    return outstanding


def _take(
    portions: list[tuple[PointLot, int]], amount: int
) -> list[tuple[PointLot, int]]:
    taken = []
    for lot, points in portions:
        if amount <= 0:
            break
        part = min(points, amount)
        taken.append((lot, part))
        amount -= part
    return taken


# --- Reversing a visit ------------------------------------------------------


def points_reverse_visit(state: WalletState, *, visit: Visit, actor=None) -> list:
    """Undo a cancelled or refunded visit's points, inside its transaction.

    The earn is taken back from the visit's own lots first, then from the
    member's other points (soonest expiry first); what is still missing
    becomes a recorded debt. Points paid on the visit go back to their lots.
    Partial refunds already undid their share: only the rest is undone here.
    """
    now = timezone.now()
    done = []
    for entry in _visit_points_entries(visit):
        key = f"reverse:{entry.pk}"
        if entry.kind == Kind.SPEND:
            back = points_return(
                state,
                spend=entry,
                key=key,
                reason="return_visit",
                params={"visit": visit.pk, "status": visit.status},
                actor=actor,
                now=now,
            )
            if back is not None:
                done.append(back)
            continue
        if entry_by_key(key) is not None:
            continue
        left = entry.amount - _earn_taken_back(entry)
        if left <= 0:
            continue
        done.append(
            _earn_take_back(
                state,
                earn=entry,
                points=left,
                key=key,
                reason="reverse_visit",
                params={"visit": visit.pk, "status": visit.status},
                actor=actor,
                now=now,
            )
        )
    return done


def points_reverse_partial(
    state: WalletState, *, visit: Visit, refund, actor=None
) -> list[LedgerEntry]:
    """Undo the share of a visit's points that a partial refund returned.

    Earned points E: the refunds so far have taken back
    ``floor(E × amount_refunded / amount_paid)`` in all, so the shares add up
    to exactly E when the last unit is refunded. Points paid on the visit P:
    ``floor(P × refunded gross / gross)`` have gone back in all (points paid for
    the bill as a whole, by list price). Same mechanics as a full reversal;
    idempotent by the refund (``reverse_partial:<id>``, ``return_partial:<id>``).
    """
    now = timezone.now()
    lines = list(visit.lines.all())
    gross = sum((ln.price * ln.quantity for ln in lines), Decimal("0"))
    refunded_gross = sum(
        (ln.price * ln.refunded_quantity for ln in lines), Decimal("0")
    )
    params = {"visit": visit.pk, "refund": refund.pk}
    done = []
    for entry in _visit_points_entries(visit):
        if entry.kind == Kind.SPEND:
            spent = -entry.amount
            target = _share(spent, refunded_gross, gross)
            handled = spent - sum(p for _lot, p in _spend_outstanding(entry))
            if target > handled:
                back = points_return(
                    state,
                    spend=entry,
                    key=f"return_partial:{refund.pk}",
                    reason="return_partial",
                    params={
                        **params,
                        "date": timezone.localdate(visit.paid_at).isoformat(),
                    },
                    amount=target - handled,
                    actor=actor,
                    now=now,
                )
                if back is not None:
                    done.append(back)
            continue
        key = f"reverse_partial:{refund.pk}"
        if entry_by_key(key) is not None:
            continue
        if visit.amount_paid:
            target = _share(entry.amount, visit.amount_refunded, visit.amount_paid)
        else:  # paid in full with points or vouchers: by list price
            target = _share(entry.amount, refunded_gross, gross)
        points = target - _earn_taken_back(entry)
        if points <= 0:
            continue
        done.append(
            _earn_take_back(
                state,
                earn=entry,
                points=points,
                key=key,
                reason="reverse_partial",
                params={
                    **params,
                    "date": timezone.localdate(visit.paid_at).isoformat(),
                },
                actor=actor,
                now=now,
            )
        )
    return done


def _visit_points_entries(visit: Visit) -> list[LedgerEntry]:
    # In the order they were written: the points paid go back before the earn
    # is taken back, so a reversal can take back from returned points.
    return list(
        LedgerEntry.objects.filter(
            visit=visit, kind__in=[Kind.EARN, Kind.SPEND]
        ).order_by("seq")
    )


def _share(points: int, part: Decimal, whole: Decimal) -> int:
    """floor(points × part / whole), exact: the amounts are whole kopecks."""
    if not whole:
        return 0
    return int(points * int(part * 100)) // int(whole * 100)


def _earn_taken_back(earn: LedgerEntry) -> int:
    """Points of ``earn`` partial refunds already took back (debts included)."""
    return sum(
        int(p.get("points", 0))
        for p in LedgerEntry.objects.filter(
            reverses=earn, kind=Kind.REVERSE
        ).values_list("params", flat=True)
    )


def _earn_take_back(
    state: WalletState,
    *,
    earn: LedgerEntry,
    points: int,
    key: str,
    reason: str,
    params: dict,
    now: datetime,
    actor=None,
) -> LedgerEntry:
    """Take ``points`` of ``earn`` back: its own lots first, then the oldest.

    What the member no longer has becomes a recorded debt.
    """
    own = list(PointLot.objects.filter(entry=earn, remaining__gt=0))
    moves = lots_draw(
        state,
        amount=points,
        today=timezone.localdate(now),
        include_pending=True,
        first=own,
    )
    back_avail, back_pending = split_pending(moves)
    taken = back_avail + back_pending
    shortfall = points - taken
    state.d_available -= back_avail
    state.d_pending -= back_pending
    state.d_debt += shortfall
    rev = entry_append(
        state,
        kind=Kind.REVERSE,
        amount=-taken,
        debt_change=shortfall,
        key=key,
        reason=reason,
        params={**params, "points": points, "debt": shortfall},
        visit=earn.visit,
        reverses=earn,
        actor=actor,
        now=now,
    )
    lots_commit(rev, [(lot, -p) for lot, p in moves])
    return rev


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


def points_bonuses(
    *, member: Member, items: list[dict], actor=None
) -> list[LedgerEntry]:
    """Several bonuses for one member at once (``points_bonus`` each: ``points``,
    ``key``, ``reason``, ``params``, ``lifetime_days``), under one lock of the
    wallet and one write of it: a visit with several bonus promotions.
    Idempotent by each key."""
    if any(item["points"] <= 0 for item in items):
        raise ValidationError(
            _("Bonus points must be positive."), code="invalid_points"
        )
    if not items:
        return []
    now = timezone.now()
    state = wallet_lock(member.pk, now=now)
    existing = {
        e.idempotency_key: e
        for e in LedgerEntry.objects.filter(
            idempotency_key__in=[item["key"] for item in items]
        )
    }
    settings = selectors.program_settings()
    entries = []
    for item in items:
        entry = existing.get(item["key"])
        if entry is None:
            entry = _credit(
                state,
                kind=Kind.BONUS,
                points=item["points"],
                key=item["key"],
                reason=item["reason"],
                params={"points": item["points"], **(item.get("params") or {})},
                actor=actor,
                now=now,
                lifetime_days=item.get("lifetime_days") or settings.lot_lifetime_days,
            )
        entries.append(entry)
    wallet_save(state)
    return entries


@transaction.atomic
def points_bonus_reverse(
    *,
    member: Member,
    bonus_key: str,
    key: str,
    reason: str,
    params: dict | None = None,
    points: int | None = None,
    actor=None,
) -> LedgerEntry | None:
    """Take back a bonus credited by ``points_bonus`` (a referral annulled).

    The bonus's own lot first, then the member's other points (soonest expiry
    first); what the member no longer has becomes a recorded debt, settled
    from future points. ``points`` takes back only that many (a partial
    refund), never more than earlier take-backs left; by default all they
    left. Idempotent by ``key``; returns None when there is no such bonus or
    nothing of it is left to take back.
    """
    now = timezone.now()
    state = wallet_lock(member.pk, now=now)
    existing = entry_by_key(key)
    if existing is not None:
        return existing
    bonus = entry_by_key(bonus_key)
    if bonus is None or bonus.member_id != member.pk or bonus.kind != Kind.BONUS:
        return None
    left = bonus.amount - _earn_taken_back(bonus)
    if points is not None:
        left = min(left, points)
    if left <= 0:
        return None
    entry = _earn_take_back(
        state,
        earn=bonus,
        points=left,
        key=key,
        reason=reason,
        params=params or {},
        actor=actor,
        now=now,
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
