"""Campaigns: one-off sends and automated journeys, with a control group.

A ``Campaign`` has an audience (a segment, or every active member), a trigger
(a one-off has none: it runs once, now or at ``send_at``) and ``CampaignStep``
rows: a message and an optional offer after a delay. Every member it takes on
gets an ``Enrollment`` (one per trigger occurrence, at most one running per
member and campaign), assigned to the treatment or the control arm by a hash
of (salt, member) *after* eligibility, consent and the frequency cap were
applied, so both arms are counted the same way. Each step writes a
``CampaignSend`` for every enrolled member: a real message for the treatment,
a "ghost" for the control. ``campaigns.journeys`` runs it all, set-based.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import audited
from campaigns.holdout import new_salt
from campaigns.models.promotions import PromoCode, Promotion
from campaigns.models.segments import Segment
from members.models import Member, Message, ServiceCategory
from rewards.models import Reward, Voucher


class CampaignSettings(models.Model):
    """The campaigns' switches and money assumptions: one row."""

    sending_paused = models.BooleanField(
        _("pause all sending"),
        default=False,
        help_text=_(
            "Nothing is enrolled or sent while this is on; when it is turned "
            "off the runs catch up within each campaign's catch-up days."
        ),
    )
    frequency_cap = models.PositiveSmallIntegerField(
        _("messages per member, channel and week"),
        default=2,
        help_text=_("Across all campaigns, control-group sends included."),
    )
    message_cost = models.DecimalField(
        _("cost of one message"), max_digits=8, decimal_places=2, default=Decimal("0")
    )
    point_value = models.DecimalField(
        _("money value of one point"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("1"),
    )
    gross_margin = models.DecimalField(
        _("gross margin, %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("60"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_(
            "The share of revenue that is profit before marketing: ROI uses it."
        ),
    )
    program_control_percent = models.DecimalField(
        _("program-wide control group, %"),
        max_digits=4,
        decimal_places=1,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
        help_text=_(
            "Members no campaign ever messages, to measure the program as a whole. "
            "0: none."
        ),
    )
    program_salt = models.CharField(
        _("program holdout salt"), max_length=32, default=new_salt
    )

    history = audited()

    class Meta:
        verbose_name = _("campaign settings")
        verbose_name_plural = _("campaign settings")

    def __str__(self) -> str:
        return str(_("Campaign settings"))

    @classmethod
    def current(cls) -> CampaignSettings:
        return cls.objects.order_by("pk").first() or cls()


class Campaign(models.Model):
    class Kind(models.TextChoices):
        ONE_OFF = "one_off", _("One-off send")
        JOURNEY = "journey", _("Automated journey")

    class Trigger(models.TextChoices):
        NONE = "", _("None (one-off)")
        VISIT = "visit", _("A visit was recorded")
        NO_VISIT = "no_visit", _("No visit for N days")
        BIRTHDAY = "birthday", _("Birthday in N days")
        ANNIVERSARY = "anniversary", _("Anniversary of the first visit")
        POINTS_EXPIRING = "points_expiring", _("Points expire within N days")
        TIER_AT_RISK = "tier_at_risk", _("Tier at risk")
        SIGNED_UP = "signed_up", _("Signed up, no visit after N days")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=Kind.choices, default=Kind.JOURNEY
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    segment = models.ForeignKey(
        Segment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("audience (segment)"),
        help_text=_("Empty: every active member."),
    )
    trigger = models.CharField(
        _("trigger"), max_length=20, choices=Trigger.choices, blank=True, default=""
    )
    trigger_days = models.PositiveIntegerField(
        _("N days (of the trigger)"), null=True, blank=True
    )
    trigger_categories = models.ManyToManyField(
        ServiceCategory,
        blank=True,
        related_name="+",
        verbose_name=_("visit of these categories"),
        help_text=_("For the visit trigger; empty: any visit."),
    )
    lookback_days = models.PositiveSmallIntegerField(
        _("catch up, days"),
        default=7,
        help_text=_(
            "How far back a trigger is still acted on: after downtime the run "
            "catches up this many days."
        ),
    )
    send_at = models.DateTimeField(
        _("send at"),
        null=True,
        blank=True,
        help_text=_("A one-off: when to send; empty: as soon as it is active."),
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    exit_on_visit = models.BooleanField(
        _("a visit ends it"),
        default=True,
        help_text=_("A paid visit after the trigger stops the remaining steps."),
    )
    control_percent = models.DecimalField(
        _("control group, %"),
        max_digits=4,
        decimal_places=1,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
        help_text=_(
            "Members kept out of the sends to measure what the campaign brought."
        ),
    )
    salt = models.CharField(_("holdout salt"), max_length=32, default=new_salt)
    attribution_days = models.PositiveSmallIntegerField(
        _("attribution window, days"), default=14
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    launched_at = models.DateTimeField(_("launched"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)

    history = audited()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(control_percent__gte=0) & Q(control_percent__lte=50),
                name="campaign_control_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignStep(models.Model):
    class Offer(models.TextChoices):
        NONE = "", _("No offer")
        PROMOTION = "promotion", _("A personal promo code")
        VOUCHER = "voucher", _("A voucher")
        POINTS = "points", _("Bonus points")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("step"), default=1)
    delay_days = models.PositiveSmallIntegerField(
        _("after, days"),
        default=0,
        help_text=_(
            "The first step: after the trigger; the others: after the step before."
        ),
    )
    template_key = models.SlugField(
        _("message template"),
        max_length=60,
        help_text=_(
            "The key of the message templates (one per channel and language). "
            "Variables: {{ member.first_name }}, {{ offer }}, {{ code }}, "
            "{{ expires }}, {{ link }}, {{ unsubscribe }}."
        ),
    )
    channels = models.CharField(
        _("channels, in order"),
        max_length=40,
        default="push,sms",
        help_text=_("The first one the member consents to is used, e.g. push,sms."),
    )
    offer = models.CharField(
        _("offer"), max_length=10, choices=Offer.choices, blank=True, default=""
    )
    promotion = models.ForeignKey(
        Promotion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("promotion of the code"),
        help_text=_(
            "A promotion that needs a code: each member gets a code of their own."
        ),
    )
    reward = models.ForeignKey(
        Reward,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher's reward"),
    )
    points = models.PositiveIntegerField(_("bonus points"), null=True, blank=True)
    offer_days = models.PositiveSmallIntegerField(_("offer valid, days"), default=14)

    history = audited()

    class Meta:
        ordering = ["campaign", "position"]
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "position"], name="campaign_step_position_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.position}"

    @property
    def channel_list(self) -> list[str]:
        return [c.strip() for c in self.channels.split(",") if c.strip()]


class Arm(models.TextChoices):
    TREATMENT = "treatment", _("Treatment")
    CONTROL = "control", _("Control")


class Enrollment(models.Model):
    """A member taken on by a campaign for one occurrence of its trigger."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        EXITED = "exited", _("Ended by a visit")

    # Indexed by the unique (campaign, member, occurrence) and by
    # enrollment_member_idx: no index of their own to keep up on every write.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    occurrence = models.CharField(_("occurrence"), max_length=40)
    arm = models.CharField(_("arm"), max_length=10, choices=Arm.choices)
    bucket = models.PositiveSmallIntegerField(_("bucket"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    step = models.PositiveSmallIntegerField(_("next step"), default=1)
    trigger_at = models.DateTimeField(_("triggered"))
    enrolled_at = models.DateTimeField(_("enrolled"), default=timezone.now)
    last_step_at = models.DateTimeField(_("last step"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-pk"]
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "occurrence"],
                name="enrollment_once_per_occurrence",
            ),
            models.UniqueConstraint(
                fields=["campaign", "member"],
                condition=Q(status="running"),
                name="enrollment_one_running",
            ),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "step"],
                condition=Q(status="running"),
                name="enrollment_running_idx",
            ),
            models.Index(fields=["member"], name="enrollment_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.member_id} · {self.occurrence}"


class CampaignSend(models.Model):
    """A step for one enrolled member: a message (treatment) or the record of
    the one a control member would have got (``ghost``)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        GHOST = "ghost", _("Control (not sent)")
        NO_CHANNEL = "no_channel", _("No channel (consent or cap)")
        PAUSED = "paused", _("Not sent: sending paused")

    # Enrollment, campaign and member lead the unique (enrollment, step), the
    # arm and the cap indexes: no index of their own (a send of 100,000 writes
    # 100,000 rows into every index of this table).
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="sends", db_index=False
    )
    step = models.ForeignKey(CampaignStep, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    arm = models.CharField(_("arm"), max_length=10, choices=Arm.choices)
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    code = models.ForeignKey(
        PromoCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    voucher = models.ForeignKey(
        Voucher, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    points = models.PositiveIntegerField(_("bonus points"), default=0)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("campaign send")
        verbose_name_plural = _("campaign sends")
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step"], name="campaign_send_once_per_step"
            )
        ]
        indexes = [
            models.Index(
                fields=["member", "channel", "created_at"], name="campaign_send_cap_idx"
            ),
            models.Index(fields=["campaign", "arm"], name="campaign_send_arm_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.step} → {self.member_id} ({self.get_status_display()})"
