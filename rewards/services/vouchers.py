"""Reward redemption and vouchers: redeem, cancel, issue, use, expire."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import field_error
from members.messaging.services import message_send
from members.models import Member, Visit
from members.models.messaging import Channel
from rewards.models import LedgerEntry, Reward, Voucher
from rewards.services.ledger import wallet_lock, wallet_save
from rewards.services.points import points_return, points_spend
from webhooks.services import event_emit, iso
from webhooks.services import money as money_text

# No 0/O, 1/I/L: codes are read aloud at the front desk and typed by hand.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10  # 31^10 ≈ 8e14: not guessable at any realistic rate


def voucher_code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def voucher_code_normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


@dataclass(frozen=True)
class Redemption:
    """The voucher a redemption answers with, and whether this call issued it."""

    voucher: Voucher
    replayed: bool  # the key had redeemed before: nothing was spent this time


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    actor=None,
    now: datetime | None = None,
) -> Voucher:
    """Buy a reward with points: ``reward_redeem_once``'s voucher."""
    return reward_redeem_once(
        member=member,
        reward=reward,
        idempotency_key=idempotency_key,
        actor=actor,
        now=now,
    ).voucher


@transaction.atomic
def reward_redeem_once(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    actor=None,
    now: datetime | None = None,
) -> Redemption:
    """Buy a reward with points: deduct them and issue a voucher, atomically.

    Idempotent by ``idempotency_key`` (the API's Idempotency-Key header): a
    retry returns the voucher issued the first time, ``replayed``, and spends
    nothing. Refused with a clear code when the reward is not available, out
    of stock, over the member's limit, above their tier, or their points do
    not cover it.
    """
    now = now or timezone.now()
    key = f"redeem:{member.pk}:{idempotency_key}"
    state = wallet_lock(member.pk, now=now)
    existing = Voucher.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.reward_id != reward.pk:
            raise field_error(
                None,
                _("This request key was already used for another reward."),
                "idempotency_key_reused",
            )
        return Redemption(voucher=existing, replayed=True)
    # The status in the database, not the caller's copy: a member blocked a
    # moment ago must not spend.
    status = Member.objects.filter(pk=member.pk).values_list("status", flat=True)[0]
    if status != Member.Status.ACTIVE:
        raise field_error(
            None, _("Only active members can redeem rewards."), "member_not_active"
        )
    reward = Reward.objects.select_related("min_tier").get(pk=reward.pk)
    if (
        not reward.is_active
        or (reward.active_from and reward.active_from > now)
        or (reward.active_until and reward.active_until <= now)
    ):
        raise field_error(
            None, _("This reward is not available now."), "reward_not_available"
        )
    if reward.min_tier and (
        state.wallet.tier is None or state.wallet.tier.rank < reward.min_tier.rank
    ):
        raise field_error(
            None,
            _("This reward is for %(tier)s members and above.")
            % {"tier": reward.min_tier.name},
            "tier_too_low",
        )
    if reward.per_member_limit is not None:
        held = (
            Voucher.objects.filter(member=member, reward=reward)
            .exclude(status=Voucher.Status.CANCELLED)
            .count()
        )
        if held >= reward.per_member_limit:
            raise field_error(
                None,
                _("You already have this reward the maximum %(n)s time(s).")
                % {"n": reward.per_member_limit},
                "limit_reached",
            )
    if reward.points_cost > state.available:
        raise field_error(
            None,
            _("Not enough points: %(available)s available, %(cost)s needed.")
            % {"available": state.available, "cost": reward.points_cost},
            "points_insufficient",
        )
    # A conditional UPDATE, not read-then-write: two members racing for the
    # last item cannot both get it.
    if reward.stock is not None and not Reward.objects.filter(
        pk=reward.pk, stock__gt=0
    ).update(stock=F("stock") - 1):
        raise field_error(None, _("This reward is out of stock."), "out_of_stock")
    voucher = Voucher.objects.create(
        code=voucher_code_new(),
        reward=reward,
        member=member,
        source=Voucher.Source.REDEMPTION,
        points_cost=reward.points_cost,
        issued_at=now,
        valid_until=now + timedelta(days=reward.voucher_valid_days),
        idempotency_key=key,
    )
    if reward.points_cost:
        points_spend(
            state,
            points=reward.points_cost,
            key=f"spend:voucher:{voucher.pk}",
            reason="spend_reward",
            params={"reward": reward.name, "code": voucher.code},
            voucher=voucher,
            actor=actor,
            now=now,
        )
    wallet_save(state)
    # In the inbox with the voucher, or not at all: queued in this transaction,
    # delivered after commit.
    message_send(
        channel=Channel.IN_APP,
        template_key="voucher_issued",
        member=member,
        context={
            "reward": reward.name,
            "code": voucher.code,
            "valid_until": voucher.valid_until,
        },
        dedupe_key=f"voucher_issued:{voucher.pk}",
    )
    event_emit(type="voucher.issued", data=lambda: voucher_webhook_data(voucher))
    return Redemption(voucher=voucher, replayed=False)


def voucher_webhook_data(voucher: Voucher, **changes) -> dict:
    """A voucher in webhook events (voucher.issued, voucher.used)."""
    reward = voucher.reward
    return {
        "voucher_id": voucher.pk,
        "member_id": voucher.member_id,
        "code": voucher.code,
        "status": voucher.status,
        "source": voucher.source,
        "reward_id": reward.pk,
        "reward": reward.name,
        "reward_kind": reward.kind,
        "discount_percent": (
            str(reward.discount_percent)
            if reward.discount_percent is not None
            else None
        ),
        "discount_amount": money_text(reward.discount_amount),
        "points_cost": voucher.points_cost,
        "valid_until": iso(voucher.valid_until),
        "used_at": iso(voucher.used_at),
        "visit_id": voucher.visit_id,
        **changes,
    }


@transaction.atomic
def voucher_cancel(*, voucher: Voucher, actor=None, reason: str = "") -> Voucher:
    """Cancel an unused voucher and give its points back (and its stock)."""
    state = wallet_lock(voucher.member_id)
    voucher = Voucher.objects.select_for_update().get(pk=voucher.pk)
    if voucher.status == Voucher.Status.CANCELLED:
        return voucher
    if voucher.status != Voucher.Status.ACTIVE:
        raise field_error(
            None,
            _("Voucher %(code)s is %(status)s and cannot be cancelled.")
            % {"code": voucher.code, "status": voucher.get_status_display()},
            "voucher_not_active",
        )
    now = timezone.now()
    Voucher.objects.filter(pk=voucher.pk).update(
        status=Voucher.Status.CANCELLED, closed_at=now
    )
    voucher.status, voucher.closed_at = Voucher.Status.CANCELLED, now
    spend = LedgerEntry.objects.filter(
        voucher=voucher, kind=LedgerEntry.Kind.SPEND
    ).first()
    if spend is not None:
        points_return(
            state,
            spend=spend,
            key=f"reverse:{spend.pk}",
            reason="return_voucher",
            params={"reward": voucher.reward.name, "code": voucher.code},
            actor=actor,
            now=now,
        )
    # Only a redemption took an item from stock; a perk or a gift did not.
    if voucher.source == Voucher.Source.REDEMPTION:
        Reward.objects.filter(pk=voucher.reward_id, stock__isnull=False).update(
            stock=F("stock") + 1
        )
    wallet_save(state)
    return voucher


@transaction.atomic
def voucher_issue(
    *,
    member: Member,
    reward: Reward,
    key: str,
    source: str,
    valid_days: int | None = None,
) -> Voucher:
    """Give a voucher without points (staff gift, later campaign effects)."""
    existing = Voucher.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    now = timezone.now()
    voucher = Voucher.objects.create(
        code=voucher_code_new(),
        reward=reward,
        member=member,
        source=source,
        points_cost=0,
        issued_at=now,
        valid_until=now + timedelta(days=valid_days or reward.voucher_valid_days),
        idempotency_key=key,
    )
    event_emit(type="voucher.issued", data=lambda: voucher_webhook_data(voucher))
    return voucher


# Rewards the checkout prices; the others (a partner gift, priority booking)
# are handed over, and staff mark them used.
CHECKOUT_KINDS = {
    "free_service",
    "add_on",
    "extended_session",
    "percent_discount",
    "fixed_discount",
}


@transaction.atomic
def voucher_mark_used(*, voucher: Voucher, actor=None) -> Voucher:
    """Mark a non-price voucher (partner gift, priority booking) as handed over.

    Price vouchers are used by the checkout, which applies their value; marking
    one used here would lose it, so they are refused. Marking twice does nothing.
    """
    voucher = (
        Voucher.objects.select_for_update().select_related("reward").get(pk=voucher.pk)
    )
    if voucher.status == Voucher.Status.USED:
        return voucher
    if voucher.reward.kind in CHECKOUT_KINDS:
        raise field_error(
            None,
            _("Voucher %(code)s gives money off: apply it at checkout.")
            % {"code": voucher.code},
            "voucher_for_checkout",
        )
    now = timezone.now()
    if voucher.status != Voucher.Status.ACTIVE or voucher.valid_until <= now:
        raise field_error(
            None,
            _("Voucher %(code)s is %(status)s.")
            % {
                "code": voucher.code,
                "status": voucher.get_status_display()
                if voucher.status != Voucher.Status.ACTIVE
                else _("expired"),
            },
            "voucher_not_active",
        )
    Voucher.objects.filter(pk=voucher.pk, status=Voucher.Status.ACTIVE).update(
        status=Voucher.Status.USED, used_at=now, closed_at=now
    )
    voucher.status, voucher.used_at, voucher.closed_at = Voucher.Status.USED, now, now
    event_emit(type="voucher.used", data=lambda: voucher_webhook_data(voucher))
    return voucher


def vouchers_use(*, vouchers: list[Voucher], visit: Visit, now: datetime) -> None:
    """Mark vouchers used on ``visit`` (inside the checkout's transaction).

    Conditional on still being active, so the same voucher on two tills at once
    is used once and the second checkout rolls back. One UPDATE however many
    vouchers (the checkout's query count is fixed).
    """
    ids = {voucher.pk for voucher in vouchers}
    if not ids:
        return
    updated = Voucher.objects.filter(pk__in=ids, status=Voucher.Status.ACTIVE).update(
        status=Voucher.Status.USED, used_at=now, visit=visit, closed_at=now
    )
    if updated != len(ids):
        lost = (
            Voucher.objects.filter(pk__in=ids)
            .exclude(visit=visit)
            .values_list("code", flat=True)
        )
        raise field_error(
            "voucher_codes",
            _("Voucher %(code)s was used or cancelled meanwhile.")
            % {"code": ", ".join(sorted(lost))},
            "voucher_not_active",
        )
    for voucher in {v.pk: v for v in vouchers}.values():
        event_emit(
            type="voucher.used",
            data=lambda v=voucher: voucher_webhook_data(
                v,
                status=Voucher.Status.USED,
                used_at=iso(now),
                visit_id=visit.pk,
            ),
        )


def vouchers_release(*, visit: Visit) -> int:
    """A cancelled or refunded visit gives its vouchers back, if still valid."""
    now = timezone.now()
    back = Voucher.objects.filter(
        visit=visit, status=Voucher.Status.USED, valid_until__gt=now
    ).update(status=Voucher.Status.ACTIVE, used_at=None, visit=None, closed_at=None)
    Voucher.objects.filter(visit=visit, status=Voucher.Status.USED).update(
        status=Voucher.Status.EXPIRED
    )
    return back


def vouchers_expire(*, at: datetime) -> int:
    """Expire every active voucher whose validity ended before ``at``. Set-based."""
    return Voucher.objects.filter(
        Q(status=Voucher.Status.ACTIVE) & Q(valid_until__lte=at)
    ).update(status=Voucher.Status.EXPIRED, closed_at=at)


def voucher_by_code(code: str) -> Voucher | None:
    code = voucher_code_normalize(code)
    if not code:
        return None
    return (
        Voucher.objects.select_related("reward", "reward__service")
        .filter(code=code)
        .first()
    )


__all__ = [
    "Redemption",
    "reward_redeem",
    "reward_redeem_once",
    "voucher_cancel",
    "voucher_issue",
    "voucher_mark_used",
    "vouchers_use",
    "vouchers_release",
    "vouchers_expire",
    "voucher_by_code",
]
