"""Tier services: upgrade on a qualifying visit, manual override."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.rows import rows_insert
from members.models import Member, Visit
from rewards import selectors
from rewards.models import Tier, TierChange, Wallet
from rewards.services.ledger import WalletState, wallet_lock
from webhooks.services import event_emit


def tier_upgrade_check(
    state: WalletState, *, visit: Visit | None = None, actor=None, settings=None
) -> TierChange | None:
    """Move the member up at once if their window now qualifies for a higher tier.

    Never moves down (that is the nightly review's job, after a grace period) and
    leaves a manager's override alone until it ends.
    """
    wallet = state.wallet
    today = timezone.localdate()
    if wallet.tier_override_until and wallet.tier_override_until >= today:
        return None
    all_tiers = selectors.tiers()
    if not all_tiers:
        return None
    current_rank = wallet.tier.rank if wallet.tier else -1
    if (
        visit is not None
        and not wallet.tier_at_risk_since
        and not _may_rise(visit, all_tiers, current_rank)
    ):
        return None
    settings = settings or selectors.program_settings()
    stats = selectors.tier_window_stats(
        member_id=wallet.member_id, window_days=settings.tier_window_days
    )
    target = selectors.tier_for_stats(all_tiers, stats)
    current_rank = wallet.tier.rank if wallet.tier else -1
    if target is None or target.rank <= current_rank:
        if wallet.tier_at_risk_since and target and target.rank >= current_rank:
            # Written out: a visit of a member at risk of losing the tier.
            with connection.cursor() as cursor:
                cursor.execute(_RISK_CLEAR_SQL, [wallet.pk])
            wallet.tier_at_risk_since = None
        return None
    return _tier_set(
        wallet, target, reason=TierChange.Reason.UPGRADE, visit=visit, actor=actor
    )


_RISK_CLEAR_SQL = (
    f"UPDATE {Wallet._meta.db_table} SET tier_at_risk_since = NULL WHERE member_id = %s"
)


def _may_rise(visit: Visit, all_tiers: list[Tier], current_rank: int) -> bool:
    """Could any higher tier qualify? The window never holds more than all time.

    ``visit.member`` is the locked member as read before this visit's stats
    were added; adding the visit gives an upper bound of the window's counts,
    so most visits skip counting the window.
    """
    member = visit.member
    bound = selectors.TierWindowStats(
        visits=member.visits_count + 1,
        spend=member.total_spent + visit.amount_paid,
    )
    return any(
        t.rank > current_rank and selectors.tier_qualifies(t, bound) for t in all_tiers
    )


def _tier_set(
    wallet: Wallet,
    tier: Tier,
    *,
    reason: str,
    visit=None,
    actor=None,
    note: str = "",
    override_until: date | None = None,
) -> TierChange:
    now = timezone.now()
    change = TierChange(
        member_id=wallet.member_id,
        from_tier=wallet.tier,
        to_tier=tier,
        reason=reason,
        visit=visit,
        actor=actor if getattr(actor, "pk", None) else None,
        note=note[:255],
        changed_at=now,
    )
    rows_insert([change])
    Wallet.objects.filter(pk=wallet.pk).update(
        tier=tier,
        tier_since=now,
        tier_at_risk_since=None,
        tier_override_until=override_until,
        updated_at=now,
    )
    wallet.tier, wallet.tier_since = tier, now
    wallet.tier_at_risk_since, wallet.tier_override_until = None, override_until
    event_emit(type="tier.changed", data=lambda: tier_change_webhook_data(change))
    return change


def tier_change_webhook_data(change: TierChange) -> dict:
    """A tier change in the tier.changed webhook event (tiers by code)."""
    return {
        "member_id": change.member_id,
        "from": change.from_tier.code if change.from_tier else None,
        "to": change.to_tier.code,
        "reason": change.reason,
        "visit_id": change.visit_id,
    }


@transaction.atomic
def tier_override(
    *, member: Member, tier: Tier, until: date, reason: str, actor
) -> TierChange:
    """A manager puts a member on a tier until a date (then the rules apply again)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": ValidationError(_("Say why the tier changes."), code="required")}
        )
    if until < timezone.localdate():
        raise ValidationError(
            {"until": ValidationError(_("The end date is in the past."), code="past")}
        )
    state = wallet_lock(member.pk)
    return _tier_set(
        state.wallet,
        tier,
        reason=TierChange.Reason.OVERRIDE,
        actor=actor,
        note=reason,
        override_until=until,
    )
