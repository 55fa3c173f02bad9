"""Writes of the referrals app: codes, sign-ups, qualification, payout, annulment,
review. Admin, API, the visit and member flows call these.

Lock order (on top of the project's "member row, then wallet"): the friend's
member row, then the referral row, then the referrer's member row, then the
wallets (friend's, then referrer's). Circles of invitations are refused
(``_is_circular``), so following friend → referrer never comes back to a row
already locked. Locking the referrer's member row serialises everything
counted per referrer: the monthly cap and the sign-up velocity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import field_error
from members import services as member_services
from members.cards import code_new
from members.messaging.services import member_channels, message_send
from members.models import Member, MemberPhone, MemberToken, Visit
from members.privacy import phone_hash
from referrals import selectors
from referrals.models import (
    Referral,
    ReferralCode,
    ReferralEvent,
    ReferralProgram,
    reason_label,
)
from referrals.selectors import referral_code_normalize
from rewards import selectors as rewards_selectors
from rewards.services import points_bonus, points_bonus_reverse
from webhooks.services import event_emit

Status = Referral.Status
Reason = ReferralEvent.Reason
Hold = ReferralEvent.Hold

# Shorter than a card's (it is typed by a friend, not scanned); the same
# read-aloud alphabet (``members.cards``).
CODE_LENGTH = 7


# --- Codes --------------------------------------------------------------------


def referral_code_for(*, member: Member) -> ReferralCode:
    """The member's personal code, made on first use; safe against races."""
    existing = ReferralCode.objects.filter(member=member).first()
    if existing is not None:
        return existing
    for _attempt in range(10):
        code = code_new(CODE_LENGTH)
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(member=member, code=code)
        except IntegrityError:
            # The member got one from a concurrent request, or (rarely) the
            # code is taken: look again, then try another code.
            existing = ReferralCode.objects.filter(member=member).first()
            if existing is not None:
                return existing
    raise RuntimeError("could not find a free referral code")


def referral_code_check(code: str) -> Member:
    """The referrer behind ``code``; a ``ValidationError`` if it cannot be used."""
    referrer = selectors.referrer_by_code(code)
    if referrer is None:
        raise field_error(
            "referral_code",
            _("There is no referral code “%(code)s”.") % {"code": code.strip()},
            "referral_code_invalid",
        )
    return referrer


# --- Sign-up ------------------------------------------------------------------


@dataclass(frozen=True)
class SignupOutcome:
    """What became of a code given at sign-up (the app shows it)."""

    code: str
    status: str  # a Referral.Status, or "invalid_code" / "ignored"
    reason: str = ""
    referral: Referral | None = None

    def as_dict(self) -> dict:
        messages = {
            "registered": _(
                "Your friend's invitation counts: you both get a reward after "
                "your first paid visit."
            ),
            "held": _(
                "Your friend's invitation is being checked; we will let you know."
            ),
            "rejected": _("This invitation cannot be rewarded: %(why)s.")
            % {"why": reason_label(self.reason)},
            "invalid_code": _("There is no referral code “%(code)s”.")
            % {"code": self.code},
            "ignored": _("You already joined with an invitation."),
        }
        return {
            "code": self.code,
            "status": self.status,
            "reason": self.reason,
            "message": str(messages.get(self.status, "")),
        }


@transaction.atomic
def referral_register(
    *,
    referee: Member,
    code: str,
    channel: str,
    device_id: str = "",
    ip: str | None = None,
    actor=None,
    strict: bool = True,
) -> SignupOutcome:
    """Record that ``referee`` joined with ``code``.

    A new client's referral is registered (or held when the sign-up looks
    suspicious); the rewards wait for the first paid visit. It is rejected,
    and recorded so, when the friend is not a new client (a visit already, or
    a phone that ever belonged to another member, erased ones included), when
    it is the referrer themselves, or when the program is off. A member has
    one referral at most: a second code is ignored. An unknown code raises
    ``referral_code_invalid`` when ``strict`` (till, admin), else is reported.
    """
    normalized = referral_code_normalize(code)
    try:
        referrer = referral_code_check(code)
    except ValidationError:
        if strict:
            raise
        return SignupOutcome(code=code.strip(), status="invalid_code")
    # The friend's row first (lock order), then the referrer's.
    referee = Member.objects.select_for_update().get(pk=referee.pk)
    existing = Referral.objects.filter(referee=referee).first()
    if existing is not None:
        return SignupOutcome(code=normalized, status="ignored", referral=existing)
    if referrer.pk != referee.pk:
        referrer = Member.objects.select_for_update().get(pk=referrer.pk)
    now = timezone.now()
    referral = Referral(
        referrer=referrer,
        referee=referee,
        code=normalized,
        channel=channel if channel in Referral.Channel.values else "admin",
        signup_device_id=(device_id or "").strip()[:128],
        signup_ip=ip or None,
        registered_at=now,
    )
    program = selectors.program()
    reason = Reason.SIGNED_UP
    holds: list[str] = []
    if _is_self(referee=referee, referrer=referrer):
        status, reason = Status.REJECTED, Reason.SELF_REFERRAL
    elif _is_circular(referee=referee, referrer=referrer):
        status, reason = Status.REJECTED, Reason.CIRCULAR
    elif not _is_new_client(referee):
        status, reason = Status.REJECTED, Reason.NOT_NEW
    elif not program.is_active:
        status, reason = Status.REJECTED, Reason.PROGRAM_OFF
    else:
        holds = _signup_holds(referral, now=now)
        status = Status.HELD if holds else Status.REGISTERED
        if holds:
            reason = Reason.SUSPICIOUS
    referral.status, referral.reason, referral.hold_reasons = status, reason, holds
    try:
        with transaction.atomic():
            referral.save()
    except IntegrityError:  # a concurrent sign-in recorded one first
        existing = Referral.objects.get(referee=referee)
        return SignupOutcome(code=normalized, status="ignored", referral=existing)
    _event(referral, "", status, reason, actor=actor, params={"holds": holds})
    member_services.member_signup_code_set(member=referee, code=normalized)
    if status in (Status.REGISTERED, Status.HELD):
        _notify(
            referrer,
            "referral_signed_up",
            {"friend": friend_name(referee)},
            dedupe=f"referral_signed_up:{referral.pk}",
        )
    return SignupOutcome(
        code=normalized, status=status, reason=reason, referral=referral
    )


def _is_self(*, referee: Member, referrer: Member) -> bool:
    """The same person: one member, or the friend's phone was once the referrer's."""
    if referee.pk == referrer.pk:
        return True
    return MemberPhone.objects.filter(
        member=referrer, phone_hash=phone_hash(referee.phone)
    ).exists()


def _is_circular(*, referee: Member, referrer: Member) -> bool:
    """The referrer joined through the friend (directly or further up).

    Only an existing member without visits, signing in with a code, can have
    invited anyone before being invited. Refusing the circle keeps mutual
    rewards out and keeps the referral graph a tree, which the lock order
    (friend before referrer) relies on.
    """
    if not Referral.objects.filter(referrer=referee).exists():
        return False
    seen = set()
    current = referrer.pk
    while current is not None and current not in seen:
        if current == referee.pk:
            return True
        seen.add(current)
        current = (
            Referral.objects.filter(referee_id=current)
            .values_list("referrer_id", flat=True)
            .first()
        )
    return False


def _is_new_client(member: Member) -> bool:
    """No visit of any status yet, and a phone no other member ever had."""
    if Visit.objects.filter(member=member).exists():
        return False
    # Hashed from E.164 like the phone history and erasure: str() of a phone
    # is its display format, which would match neither.
    digest = phone_hash(member.phone)
    if MemberPhone.objects.filter(phone_hash=digest).exclude(member=member).exists():
        return False
    # Members inserted in bulk (demo, imports) have no phone history rows: an
    # erased one still carries its phone's hash.
    return not Member.objects.filter(erased_phone_hash=digest).exists()


def _signup_holds(referral: Referral, *, now: datetime) -> list[str]:
    """Why this sign-up should wait for a manager (empty: it need not)."""
    holds = []
    referrer_id = referral.referrer_id
    window = timedelta(minutes=settings.REFERRAL_HOLD_WINDOW_MINUTES)
    limit = settings.REFERRAL_HOLD_SIGNUPS
    if limit and (
        Referral.objects.filter(
            referrer_id=referrer_id, registered_at__gte=now - window
        ).count()
        >= limit
    ):
        holds.append(Hold.VELOCITY.value)
    device = referral.signup_device_id
    if device and settings.REFERRAL_HOLD_SAME_DEVICE:
        shared = (
            MemberToken.objects.filter(member_id=referrer_id, device_id=device).exists()
            or Referral.objects.filter(
                referrer_id=referrer_id, signup_device_id=device
            ).exists()
        )
        if shared:
            holds.append(Hold.SHARED_DEVICE.value)
    ip = referral.signup_ip
    if (
        ip
        and settings.REFERRAL_HOLD_SAME_IP
        and MemberToken.objects.filter(member_id=referrer_id, ip=ip).exists()
    ):
        holds.append(Hold.SHARED_IP.value)
    return holds


# --- First paid visit ---------------------------------------------------------


def referral_visit_recorded(*, visit: Visit, member: Member, actor=None) -> None:
    """Qualify the member's referral if ``visit`` is their first qualifying one.

    Runs inside the visit's transaction (the friend's row locked). A visit
    paid below the program's minimum does not qualify; a later one may. Only
    members who joined with a code get here with a query at all.
    """
    if not member.signup_referral_code:
        return
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .filter(
            referee_id=member.pk,
            status__in=[Status.REGISTERED, Status.HELD],
            qualifying_visit__isnull=True,
        )
        .first()
    )
    if referral is None or visit.status != Visit.Status.PAID:
        return
    program = selectors.program()
    # A paid visit means money paid: one paid entirely otherwise earns nothing.
    if visit.amount_paid <= 0 or visit.amount_paid < program.min_first_visit_amount:
        return
    now = timezone.now()
    referral.qualifying_visit = visit
    referral.qualified_at = now
    params = {"visit": visit.pk, "paid": str(visit.amount_paid)}
    if referral.status == Status.HELD:
        # Still held: the manager decides; approval pays out on this visit.
        referral.save(update_fields=["qualifying_visit", "qualified_at", "updated_at"])
        _event(
            referral, Status.HELD, Status.HELD, Reason.FIRST_PAID_VISIT, params=params
        )
        return
    _move(referral, Status.QUALIFIED, Reason.FIRST_PAID_VISIT, params=params)
    holds = [] if referral.cleared else _visit_holds(referral, visit)
    if holds:
        referral.hold_reasons = holds
        _move(referral, Status.HELD, Reason.SUSPICIOUS, params={"holds": holds})
        return
    referral.referee = member
    _payout(referral, program=program, actor=actor, now=now)


def _visit_holds(referral: Referral, visit: Visit) -> list[str]:
    card = visit.payment_card_hash
    if not card:
        return []
    holds = []
    friends = settings.REFERRAL_HOLD_CARD_FRIENDS
    if friends:
        others = (
            Referral.objects.filter(qualifying_visit__payment_card_hash=card)
            .exclude(pk=referral.pk)
            .count()
        )
        if others + 1 >= friends:
            holds.append(Hold.SHARED_CARD.value)
    if settings.REFERRAL_HOLD_REFERRER_CARD and (
        Visit.objects.filter(
            member_id=referral.referrer_id, payment_card_hash=card
        ).exists()
    ):
        holds.append(Hold.REFERRER_CARD.value)
    return holds


def _payout(
    referral: Referral, *, program: ReferralProgram, actor=None, now: datetime
) -> Referral:
    """Reward both sides of a qualified referral, within the referrer's cap.

    The referrer's row is locked, so two friends qualifying at once count
    against the cap one after the other. Over the cap the referral is
    rejected and recorded, with no reward for either side. A blocked referrer
    is held for a manager (unless one cleared the referral already); an erased
    one gets nothing, their friend still gets the welcome reward.
    """
    referrer = Member.objects.select_for_update().get(pk=referral.referrer_id)
    if not program.is_active:
        return _move(referral, Status.REJECTED, Reason.PROGRAM_OFF, actor=actor)
    if referrer.status == Member.Status.BLOCKED and not referral.cleared:
        referral.hold_reasons = [*referral.hold_reasons, Hold.REFERRER_BLOCKED.value]
        return _move(
            referral,
            Status.HELD,
            Reason.SUSPICIOUS,
            actor=actor,
            params={"holds": [Hold.REFERRER_BLOCKED.value]},
        )
    used = selectors.rewarded_in_month(referrer_id=referrer.pk, at=now)
    if used >= program.monthly_cap:
        return _move(
            referral,
            Status.REJECTED,
            Reason.OVER_CAP,
            actor=actor,
            params={"cap": program.monthly_cap, "month": _month(now)},
        )
    visit = referral.qualifying_visit
    point_money = rewards_selectors.program_settings().money_per_point
    friend_full = _reward_points(
        program.friend_reward_kind, program.friend_reward_value, visit, point_money
    )
    friend_points, discount = friend_full, Decimal("0.00")
    if not program.stacks_with_first_visit and friend_full:
        discount = rewards_selectors.visit_first_visit_discount(visit=visit)
        # The better of the two: the discount already given counts against the
        # welcome reward, at the value of a point (rounded in the friend's favour).
        taken = int((discount / point_money).to_integral_value(rounding=ROUND_DOWN))
        friend_points = max(0, friend_full - taken)
    referrer_points = (
        0
        if referrer.status == Member.Status.ERASED
        else _reward_points(
            program.referrer_reward_kind,
            program.referrer_reward_value,
            visit,
            point_money,
        )
    )
    days = program.bonus_validity_days
    referee = referral.referee
    # The friend's wallet first, then the referrer's (lock order).
    for side, member, points, params in (
        ("friend", referee, friend_points, {"visit": visit.pk}),
        ("referrer", referrer, referrer_points, {}),
    ):
        if points:
            points_bonus(
                member=member,
                points=points,
                key=f"referral:{referral.pk}:{side}",
                reason=f"referral_{side}",
                params={"referral": referral.pk, **params},
                lifetime_days=days,
                actor=actor,
            )
    referral.referrer_points = referrer_points
    referral.friend_points = friend_points
    referral.rewarded_at = now
    _move(
        referral,
        Status.REWARDED,
        Reason.REWARDED,
        actor=actor,
        params={
            "referrer_points": referrer_points,
            "friend_points": friend_points,
            "friend_full": friend_full,
            "first_visit_discount": str(discount),
            "valid_days": days,
        },
    )
    event_emit(
        type="referral.rewarded",
        data={
            "referral_id": referral.pk,
            "referrer_id": referral.referrer_id,
            "friend_id": referral.referee_id,
            "referrer_points": referrer_points,
            "friend_points": friend_points,
            "visit_id": referral.qualifying_visit_id,
        },
    )
    if referrer_points:
        _notify(
            referrer,
            "referral_rewarded",
            {"points": referrer_points, "friend": friend_name(referee), "days": days},
            dedupe=f"referral_rewarded:{referral.pk}",
        )
    if friend_points:
        _notify(
            referee,
            "referral_welcome",
            {"points": friend_points, "days": days},
            dedupe=f"referral_welcome:{referral.pk}",
        )
    return referral


def _reward_points(
    kind: str, value: Decimal, visit: Visit, point_money: Decimal
) -> int:
    if kind == ReferralProgram.RewardKind.PERCENT:
        money = visit.amount_paid * value / 100
        return int((money / point_money).to_integral_value(rounding=ROUND_DOWN))
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def _month(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m")


# --- Annulment ----------------------------------------------------------------


def referral_visit_reversed(*, visit: Visit, actor=None) -> Referral | None:
    """The friend's qualifying visit was cancelled or refunded: annul.

    Both rewards are taken back through the ledger; points already spent
    become a recorded debt. A referral held or rejected on that visit ends
    annulled or stays rejected. Runs in the visit's transaction.
    """
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .filter(qualifying_visit=visit)
        .first()
    )
    if referral is None or referral.status in (Status.ANNULLED, Status.REJECTED):
        return referral
    reason = (
        Reason.VISIT_REFUNDED
        if visit.status == Visit.Status.REFUNDED
        else Reason.VISIT_CANCELLED
    )
    params = {"visit": visit.pk, "status": visit.status}
    taken = {}
    if referral.status == Status.REWARDED:
        # The friend's wallet first, then the referrer's (lock order).
        for side, member_id in (
            ("friend", referral.referee_id),
            ("referrer", referral.referrer_id),
        ):
            if side == "referrer":
                Member.objects.select_for_update().filter(pk=member_id).get()
            entry = points_bonus_reverse(
                member=Member(pk=member_id),
                bonus_key=f"referral:{referral.pk}:{side}",
                key=f"referral:{referral.pk}:{side}:annul",
                reason="referral_annulled",
                params={"referral": referral.pk, **params},
                actor=actor,
            )
            if entry is not None:
                taken[side] = {
                    "points": entry.params.get("points", 0),
                    "debt": entry.params.get("debt", 0),
                }
    return _move(
        referral, Status.ANNULLED, reason, actor=actor, params={**params, **taken}
    )


# --- Review -------------------------------------------------------------------


@transaction.atomic
def referral_approve(*, referral: Referral, actor, note: str = "") -> Referral:
    """A manager clears a held referral: it pays out now if the friend has had
    their first paid visit, else it waits for it like any other. The holds
    found so far do not apply again."""
    referral = _lock_for_review(referral)
    if referral.status != Status.HELD:
        raise field_error(
            None,
            _("Only a referral held for review can be approved (this one is %(s)s).")
            % {"s": referral.get_status_display()},
            "referral_not_held",
        )
    now = timezone.now()
    referral.cleared = True
    _reviewed(referral, actor=actor, note=note, now=now)
    visit = referral.qualifying_visit
    if visit is None:
        return _move(
            referral, Status.REGISTERED, Reason.APPROVED, actor=actor, note=note
        )
    _move(referral, Status.QUALIFIED, Reason.APPROVED, actor=actor, note=note)
    return _payout(referral, program=selectors.program(), actor=actor, now=now)


@transaction.atomic
def referral_reject(*, referral: Referral, actor, note: str = "") -> Referral:
    """A manager rejects a referral that has paid nothing yet (held or waiting)."""
    referral = _lock_for_review(referral)
    if referral.status not in (Status.HELD, Status.REGISTERED, Status.QUALIFIED):
        raise field_error(
            None,
            _("A referral that is %(s)s cannot be rejected.")
            % {"s": referral.get_status_display()},
            "referral_not_rejectable",
        )
    note = (note or "").strip()
    if not note:
        raise field_error(
            "note", _("Say why the referral is rejected."), "note_required"
        )
    _reviewed(referral, actor=actor, note=note, now=timezone.now())
    return _move(
        referral, Status.REJECTED, Reason.REJECTED_BY_MANAGER, actor=actor, note=note
    )


def _lock_for_review(referral: Referral) -> Referral:
    # Lock order: the friend's row, then the referral (as a visit would).
    Member.objects.select_for_update().filter(pk=referral.referee_id).get()
    return (
        Referral.objects.select_for_update(of=("self",))
        .select_related("qualifying_visit", "referee")
        .get(pk=referral.pk)
    )


def _reviewed(referral: Referral, *, actor, note: str, now: datetime) -> None:
    referral.reviewed_at = now
    referral.reviewed_by = actor if getattr(actor, "pk", None) else None
    referral.review_note = (note or "").strip()[:255]


# --- Erasure ------------------------------------------------------------------


def referral_member_erased(*, member: Member) -> None:
    """Forget what identified an erased member here: their code stops working,
    their sign-up device and IP are cleared. Statuses and points stay."""
    ReferralCode.objects.filter(member=member).delete()
    Referral.objects.filter(referee=member).update(signup_device_id="", signup_ip=None)


# --- Helpers ------------------------------------------------------------------


def _move(
    referral: Referral,
    to: str,
    reason: str,
    *,
    actor=None,
    note: str = "",
    params: dict | None = None,
) -> Referral:
    """Change the status, save, and record the move with its reason."""
    before = referral.status
    referral.status = to
    referral.reason = reason
    referral.save()
    _event(referral, before, to, reason, actor=actor, note=note, params=params)
    return referral


def _event(referral, before, to, reason, *, actor=None, note="", params=None) -> None:
    ReferralEvent.objects.create(
        referral=referral,
        from_status=before,
        to_status=to,
        reason=reason,
        params=params or {},
        note=(note or "")[:255],
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=actor.get_username() if getattr(actor, "pk", None) else "",
        created_at=timezone.now(),
    )


def friend_name(member: Member) -> str:
    """How a friend is named to the referrer: first name and initial, or the
    phone's last digits; never the whole phone. An erased friend is not named
    (their phone is a placeholder whose digits are the member's id)."""
    if member.status == Member.Status.ERASED:
        return _("Deleted account")
    if member.first_name:
        initial = f" {member.last_name[:1]}." if member.last_name else ""
        return f"{member.first_name}{initial}"
    digits = "".join(ch for ch in str(member.phone) if ch.isdigit())
    return f"•••{digits[-4:]}" if len(digits) >= 4 else _("your friend")


def _notify(member: Member, key: str, context: dict, *, dedupe: str) -> None:
    """The inbox always, plus the channels the member opted into (one row each)."""
    for channel in member_channels(member):
        message_send(
            channel=channel,
            template_key=key,
            member=member,
            context=context,
            dedupe_key=f"{dedupe}:{channel}",
        )


__all__ = [
    "SignupOutcome",
    "referral_approve",
    "referral_code_check",
    "referral_code_for",
    "referral_code_normalize",
    "referral_member_erased",
    "referral_register",
    "referral_reject",
    "referral_visit_recorded",
    "referral_visit_reversed",
]
