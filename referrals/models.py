"""Bring a friend: the program's terms, members' codes, referrals and their history.

A referral ties a new client (the *friend*, ``referee``) to the member whose
code they signed up with (the *referrer*). It moves registered → qualified
(the friend's first paid visit) → rewarded, or ends annulled (that visit
cancelled or refunded: both rewards taken back), rejected (not a new client,
self-referral, over the monthly cap, a manager's decision) or waits held for
review (suspicious). Every move is a ``ReferralEvent`` row with its reason.
Only ``referrals.services`` writes these tables; points go through
``rewards.services`` (``points_bonus`` / ``points_bonus_reverse``).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import audited
from members.models import MONEY, Member, Visit


class ReferralProgram(models.Model):
    """The program's terms: one row (pk=1), edited in the admin."""

    class RewardKind(models.TextChoices):
        POINTS = "points", _("Fixed points")
        PERCENT = "percent", _("Percent of the first paid visit, in points")

    is_active = models.BooleanField(
        _("program is on"),
        default=True,
        help_text=_(
            "Off: codes still open the landing page, but new sign-ups and "
            "first visits earn no referral rewards."
        ),
    )
    referrer_reward_kind = models.CharField(
        _("referrer's reward"),
        max_length=16,
        choices=RewardKind.choices,
        default=RewardKind.POINTS,
    )
    referrer_reward_value = models.DecimalField(
        _("referrer's reward value"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("500"),
        validators=[MinValueValidator(0)],
        help_text=_("Points, or a percent of what the friend paid for the visit."),
    )
    friend_reward_kind = models.CharField(
        _("friend's welcome reward"),
        max_length=16,
        choices=RewardKind.choices,
        default=RewardKind.POINTS,
    )
    friend_reward_value = models.DecimalField(
        _("friend's welcome reward value"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("500"),
        validators=[MinValueValidator(0)],
        help_text=_("Points, or a percent of what the friend paid for the visit."),
    )
    min_first_visit_amount = models.DecimalField(
        _("minimum first visit"),
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text=_(
            "The friend's first paid visit of at least this amount (paid in "
            "money) qualifies the referral; 0: any paid visit."
        ),
        **MONEY,
    )
    monthly_cap = models.PositiveSmallIntegerField(
        _("rewarded referrals per referrer per month"),
        default=10,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Counted per calendar month. Friends who qualify beyond it are "
            "recorded, with no reward for either side."
        ),
    )
    bonus_validity_days = models.PositiveSmallIntegerField(
        _("referral points valid, days"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Referral bonus points expire this many days after crediting."),
    )
    stacks_with_first_visit = models.BooleanField(
        _("welcome reward stacks with first-visit benefits"),
        default=False,
        help_text=_(
            "Off: the friend gets the better of the two — the welcome reward "
            "is reduced by what the first-visit discount already gave."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = audited()

    class Meta:
        verbose_name = _("referral program")
        verbose_name_plural = _("referral program")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="referral_program_single"),
        ]

    def __str__(self) -> str:
        return str(_("Referral program"))

    def clean(self) -> None:
        errors = {}
        for side in ("referrer", "friend"):
            kind = getattr(self, f"{side}_reward_kind")
            value = getattr(self, f"{side}_reward_value")
            if value is None:
                continue
            if kind == self.RewardKind.PERCENT and value > 100:
                errors[f"{side}_reward_value"] = ValidationError(
                    _("A percent is at most 100."), code="invalid_percent"
                )
            if kind == self.RewardKind.POINTS and value != value.to_integral_value():
                errors[f"{side}_reward_value"] = ValidationError(
                    _("Points are whole numbers."), code="invalid_points"
                )
        if errors:
            raise ValidationError(errors)


class ReferralCode(models.Model):
    """A member's personal code, made the first time it is asked for."""

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="referral_code",
        verbose_name=_("member"),
    )
    code = models.CharField(_("code"), max_length=16, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return self.code


class Referral(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered", _("Registered")
        QUALIFIED = "qualified", _("Qualified")
        REWARDED = "rewarded", _("Rewarded")
        HELD = "held", _("Held for review")
        ANNULLED = "annulled", _("Annulled")
        REJECTED = "rejected", _("Rejected")

    class Channel(models.TextChoices):
        APP = "app", _("App")
        POS = "pos", _("Till (POS)")
        ADMIN = "admin", _("Admin")

    referrer = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="referrals_made",
        verbose_name=_("referrer"),
    )
    # One referral per new client: the first code counts.
    referee = models.OneToOneField(
        Member,
        on_delete=models.PROTECT,
        related_name="referral",
        verbose_name=_("friend"),
    )
    code = models.CharField(_("code used"), max_length=16)
    channel = models.CharField(_("signed up in"), max_length=8, choices=Channel.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, db_index=True
    )
    # The reason code of the latest move (``ReferralEvent.Reason``).
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    hold_reasons = models.JSONField(_("hold reasons"), default=list, blank=True)
    # Cleared by a manager: the holds found so far do not apply again.
    cleared = models.BooleanField(_("cleared by a manager"), default=False)
    signup_device_id = models.CharField(
        _("sign-up device id"), max_length=128, blank=True
    )
    signup_ip = models.GenericIPAddressField(_("sign-up IP"), null=True, blank=True)
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)
    qualifying_visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("first paid visit"),
    )
    qualified_at = models.DateTimeField(_("qualified"), null=True, blank=True)
    rewarded_at = models.DateTimeField(_("rewarded"), null=True, blank=True)
    referrer_points = models.BigIntegerField(_("referrer's points"), default=0)
    friend_points = models.BigIntegerField(_("friend's points"), default=0)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    review_note = models.CharField(_("review note"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-registered_at", "-id"]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        permissions = [("review_referral", _("Can approve or reject held referrals"))]
        indexes = [
            models.Index(
                fields=["referrer", "-registered_at"], name="referral_referrer_idx"
            ),
            # The monthly cap counts a referrer's rewards by month.
            models.Index(
                fields=["referrer", "status", "rewarded_at"],
                name="referral_cap_idx",
            ),
            models.Index(
                fields=["status", "-registered_at"], name="referral_status_idx"
            ),
            models.Index(fields=["signup_device_id"], name="referral_device_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(referrer_points__gte=0) & Q(friend_points__gte=0),
                name="referral_points_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(rewarded_at__isnull=True)
                | Q(status__in=["rewarded", "annulled"]),
                name="referral_rewarded_at_only_when_paid",
            ),
        ]

    def __str__(self) -> str:
        return _("Referral #%(id)s") % {"id": self.pk}


class HeldReferral(Referral):
    """The review queue: referrals held as suspicious (an admin of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("referral to review")
        verbose_name_plural = _("referrals to review")


class Referrer(Member):
    """Members who invited anyone, as the per-referrer summary lists them."""

    class Meta:
        proxy = True
        verbose_name = _("referrer")
        verbose_name_plural = _("referrers")


class ReferralEvent(models.Model):
    """One move of a referral, with why and who: the referral's history."""

    class Reason(models.TextChoices):
        SIGNED_UP = "signed_up", _("Signed up with the code")
        NOT_NEW = "not_new", _("Not a new client")
        SELF_REFERRAL = "self_referral", _("Self-referral")
        CIRCULAR = "circular", _("The referrer joined through this member")
        PROGRAM_OFF = "program_off", _("The referral program is off")
        FIRST_PAID_VISIT = "first_paid_visit", _("First paid visit")
        OVER_CAP = "over_cap", _("Referrer over the monthly cap")
        REWARDED = "rewarded", _("Rewards credited")
        SUSPICIOUS = "suspicious", _("Held as suspicious")
        VISIT_CANCELLED = "visit_cancelled", _("First visit cancelled")
        VISIT_REFUNDED = "visit_refunded", _("First visit refunded")
        APPROVED = "approved", _("Approved by a manager")
        REJECTED_BY_MANAGER = "rejected_by_manager", _("Rejected by a manager")

    class Hold(models.TextChoices):
        """Why a referral is held (``Referral.hold_reasons``)."""

        VELOCITY = "velocity", _("Many sign-ups from one referrer in a short time")
        SHARED_DEVICE = (
            "shared_device",
            _("Same device as the referrer or another of their friends"),
        )
        SHARED_IP = "shared_ip", _("Same IP address as the referrer")
        SHARED_CARD = "shared_card", _("Card paid other friends' first visits")
        REFERRER_CARD = "referrer_card", _("Paid with the referrer's card")
        REFERRER_BLOCKED = "referrer_blocked", _("The referrer is blocked")

    referral = models.ForeignKey(
        Referral,
        on_delete=models.CASCADE,
        related_name="events",
        verbose_name=_("referral"),
    )
    from_status = models.CharField(
        _("from"), max_length=16, choices=Referral.Status.choices, blank=True
    )
    to_status = models.CharField(
        _("to"), max_length=16, choices=Referral.Status.choices
    )
    reason = models.CharField(_("reason"), max_length=40, choices=Reason.choices)
    params = models.JSONField(_("details"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    # Kept as text too: the history reads the same after the user is deleted.
    actor_name = models.CharField(_("by (name)"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("referral event")
        verbose_name_plural = _("referral events")

    def __str__(self) -> str:
        # Shown in the referral's history rows: words, never codes.
        before = self.get_from_status_display() if self.from_status else "—"
        return f"{before} → {self.get_to_status_display()}: {reason_label(self.reason)}"


def reason_label(reason: str) -> str:
    """A reason code in words (the request's language); an unknown code as is."""
    Reason = ReferralEvent.Reason
    return str(Reason(reason).label) if reason in Reason.values else reason
