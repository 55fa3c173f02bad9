"""Promotions: conditions + effect + schedule + limits, and their promo codes.

A promotion's definition (this module's ``PromotionGroup`` and ``Promotion``
with its condition lists) changes a few times a week and is read by every
checkout: each process keeps the active ones in memory, reloaded when a
database trigger moves the config stamp (``core.stamps``). What changes with
every checkout — redemptions, budget spent, code uses — lives in other tables
(``PromotionUsage``, ``PromoCode``, ``Redemption``), which the cache never reads.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import audited
from members.models import (
    Location,
    Member,
    Service,
    ServiceCategory,
    Specialist,
    Visit,
)
from rewards.models import Reward, Tier, Voucher

MONEY = {"max_digits": 12, "decimal_places": 2}
PERCENT = {
    "max_digits": 5,
    "decimal_places": 2,
    "validators": [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
}


class PromotionGroup(models.Model):
    """Promotions evaluated together, in ``order``; the group's ``mode`` says
    how its promotions combine on one bill."""

    class Mode(models.TextChoices):
        STACK = "stack", _("stack all that apply")
        FIRST = "first", _("first that applies, by priority")
        BEST = "best", _("best for the member")

    name = models.CharField(_("name"), max_length=80, unique=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode, default=Mode.BEST)

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("promotion group")
        verbose_name_plural = _("promotion groups")

    def __str__(self):
        return self.name


class Promotion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        ACTIVE = "active", _("active")  # live between starts_at and ends_at
        PAUSED = "paused", _("paused")
        ENDED = "ended", _("ended")

    class Effect(models.TextChoices):
        # xgettext:no-python-format
        PERCENT_LINES = "percent_lines", _("% off the matching services")
        # xgettext:no-python-format
        PERCENT_BILL = "percent_bill", _("% off the bill")
        FIXED_BILL = "fixed_bill", _("amount off the bill")
        BUNDLE_PRICE = "bundle_price", _("a fixed price for a bundle")
        CHEAPEST_FREE = "cheapest_free", _("the cheapest matching service free")
        BONUS_POINTS = "bonus_points", _("bonus points")
        POINTS_MULTIPLIER = "points_multiplier", _("points multiplier")
        VOUCHER = "voucher", _("a voucher for the next visit")

    class PercentOf(models.TextChoices):
        DISCOUNTED = "discounted", _("the price after earlier discounts")
        LIST = "list", _("the list price")

    name = models.CharField(_("name"), max_length=120)
    # What the member reads ("Happy hours: −20 % on weekday mornings").
    description = models.CharField(
        _("description for members"), max_length=255, blank=True
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status, default=Status.DRAFT
    )
    group = models.ForeignKey(
        PromotionGroup,
        on_delete=models.PROTECT,
        related_name="promotions",
        verbose_name=_("group"),
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower first.")
    )
    exclusive = models.BooleanField(
        _("exclusive"),
        default=False,
        help_text=_(
            "When it applies, nothing else does: no tier or first-visit discount, "
            "no other promotion, no voucher. The checkout uses it only when it is "
            "better for the member than everything else together."
        ),
    )
    # --- schedule (the program's time zone) ---
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    # --- conditions: each optional, all must hold ---
    services = models.ManyToManyField(
        Service, blank=True, related_name="+", verbose_name=_("services")
    )
    categories = models.ManyToManyField(
        ServiceCategory, blank=True, related_name="+", verbose_name=_("categories")
    )
    excluded_services = models.ManyToManyField(
        Service, blank=True, related_name="+", verbose_name=_("except services")
    )
    excluded_categories = models.ManyToManyField(
        ServiceCategory,
        blank=True,
        related_name="+",
        verbose_name=_("except categories"),
    )
    locations = models.ManyToManyField(
        Location, blank=True, related_name="+", verbose_name=_("locations")
    )
    tiers = models.ManyToManyField(
        Tier, blank=True, related_name="+", verbose_name=_("tiers")
    )
    specialists = models.ManyToManyField(
        Specialist,
        blank=True,
        related_name="+",
        verbose_name=_("specialists"),
        help_text=_("Only services these specialists perform count."),
    )
    weekdays = models.CharField(
        _("weekdays"),
        max_length=7,
        blank=True,
        help_text=_(
            "ISO numbers, Monday 1 … Sunday 7: “12345” is weekdays. Empty: any."
        ),
    )
    time_from = models.TimeField(_("from (time of day)"), null=True, blank=True)
    time_to = models.TimeField(_("until (time of day)"), null=True, blank=True)
    first_visit = models.BooleanField(_("first visit only"), default=False)
    nth_visit = models.PositiveIntegerField(
        _("only the member's visit number"), null=True, blank=True
    )
    min_bill = models.DecimalField(_("minimum bill"), null=True, blank=True, **MONEY)
    min_lines = models.PositiveSmallIntegerField(
        _("at least this many matching services"), default=1
    )
    combo_categories = models.ManyToManyField(
        ServiceCategory,
        blank=True,
        related_name="+",
        verbose_name=_("combo: all these categories in one visit"),
    )
    segments = models.ManyToManyField(
        "campaigns.Segment",
        blank=True,
        related_name="promotions",
        verbose_name=_("segments"),
        help_text=_("For members of any of these segments only."),
    )
    untried_category = models.ForeignKey(
        ServiceCategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("a category the member has never tried"),
    )
    recent_visits = models.PositiveSmallIntegerField(
        _("at least this many visits before"),
        null=True,
        blank=True,
        help_text=_("Paid visits in the last days below (a regular's offer)."),
    )
    recent_days = models.PositiveSmallIntegerField(
        _("in the last days"), null=True, blank=True
    )
    birthday_days = models.PositiveSmallIntegerField(
        _("birthday within ± days"), null=True, blank=True
    )
    code_required = models.BooleanField(_("promo code required"), default=False)
    # --- effect ---
    effect = models.CharField(_("effect"), max_length=20, choices=Effect)
    percent = models.DecimalField(_("percent"), null=True, blank=True, **PERCENT)
    percent_of = models.CharField(
        _("percent of"),
        max_length=12,
        choices=PercentOf,
        default=PercentOf.DISCOUNTED,
    )
    amount = models.DecimalField(_("amount"), null=True, blank=True, **MONEY)
    bundle_quantity = models.PositiveSmallIntegerField(
        _("bundle: services"), null=True, blank=True
    )
    points = models.PositiveIntegerField(_("bonus points"), null=True, blank=True)
    multiplier = models.DecimalField(
        _("points multiplier"), max_digits=4, decimal_places=2, null=True, blank=True
    )
    reward = models.ForeignKey(
        Reward,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher of the reward"),
        help_text=_("For a voucher effect: issued after the visit, for the next one."),
    )
    points_lifetime_days = models.PositiveIntegerField(
        _("bonus points expire after, days"),
        null=True,
        blank=True,
        help_text=_("Empty: as earned points."),
    )
    # --- limits ---
    uses_per_member = models.PositiveIntegerField(
        _("uses per member"), null=True, blank=True
    )
    uses_per_member_period = models.PositiveIntegerField(
        _("uses per member per period"), null=True, blank=True
    )
    period_days = models.PositiveSmallIntegerField(
        _("period, days"), null=True, blank=True
    )
    max_redemptions = models.PositiveIntegerField(
        _("redemptions at most"), null=True, blank=True
    )
    budget_money = models.DecimalField(
        _("budget, money"), null=True, blank=True, **MONEY
    )
    budget_points = models.PositiveIntegerField(
        _("budget, points"), null=True, blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = audited()

    class Meta:
        ordering = ["group__order", "priority", "pk"]
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=models.F("starts_at")),
                name="promotion_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.name

    def live_at(self, at) -> bool:
        return (
            self.status == self.Status.ACTIVE
            and (self.starts_at is None or self.starts_at <= at)
            and (self.ends_at is None or at < self.ends_at)
        )

    @property
    def shown_status(self) -> str:
        """What the list shows: active but not started yet is "scheduled"."""
        now = timezone.now()
        if self.status == self.Status.ACTIVE:
            if self.starts_at and now < self.starts_at:
                return str(_("scheduled"))
            if self.ends_at and now >= self.ends_at:
                return str(_("ended"))
        return self.get_status_display()


class PromotionUsage(models.Model):
    """What a promotion has given so far: the row its limits lock."""

    promotion = models.OneToOneField(
        Promotion, on_delete=models.CASCADE, primary_key=True, related_name="usage"
    )
    redemptions = models.PositiveIntegerField(_("redemptions"), default=0)
    money = models.DecimalField(_("money given"), default=Decimal("0"), **MONEY)
    points = models.BigIntegerField(_("points given"), default=0)

    class Meta:
        verbose_name = _("promotion usage")
        verbose_name_plural = _("promotion usage")

    def __str__(self):
        return f"{self.promotion_id}: {self.redemptions}"


class PromoCode(models.Model):
    """A code that unlocks a promotion: one public multi-use code, or one of a
    batch of single-use ones. Stored upper-case, in the voucher alphabet."""

    promotion = models.ForeignKey(
        Promotion,
        on_delete=models.CASCADE,
        related_name="codes",
        verbose_name=_("promotion"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("personal to"),
        help_text=_("A campaign's personal code: only this member may use it."),
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    batch = models.CharField(_("batch"), max_length=60, blank=True)
    max_uses = models.PositiveIntegerField(
        _("uses at most"), null=True, blank=True, help_text=_("Empty: unlimited.")
    )
    uses = models.PositiveIntegerField(_("used"), default=0)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    history = audited()

    class Meta:
        ordering = ["pk"]
        verbose_name = _("promo code")
        verbose_name_plural = _("promo codes")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(uses__lte=models.F("max_uses")),
                name="promo_code_within_max_uses",
            ),
        ]

    def __str__(self):
        return self.code


class Redemption(models.Model):
    """A promotion applied to a paid visit, with what it cost."""

    promotion = models.ForeignKey(
        Promotion,
        on_delete=models.PROTECT,
        related_name="redemptions",
        verbose_name=_("promotion"),
    )
    visit = models.ForeignKey(
        Visit, on_delete=models.PROTECT, related_name="+", verbose_name=_("visit")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("member")
    )
    code = models.ForeignKey(
        PromoCode,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("promo code"),
    )
    money = models.DecimalField(_("money off"), default=Decimal("0"), **MONEY)
    points = models.BigIntegerField(_("bonus points"), default=0)
    voucher = models.ForeignKey(
        Voucher,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("voucher issued"),
    )
    # {visit line id: money off on that line}, as the checkout spread it: what
    # a partial refund of some units gives back (``campaigns.refunds``).
    # Empty on points effects and on redemptions from before it was kept.
    lines = models.JSONField(
        _("money off per line"), default=dict, blank=True, db_default={}
    )
    # What partial refunds of the visit gave back; a reversal undoes the rest.
    money_refunded = models.DecimalField(
        _("money off given back"),
        default=Decimal("0"),
        db_default=Decimal("0"),
        **MONEY,
    )
    points_refunded = models.BigIntegerField(
        _("bonus points taken back"), default=0, db_default=0
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "promotion"], name="redemption_once_per_visit"
            ),
        ]
        indexes = [
            models.Index(
                fields=["promotion", "member", "created_at"],
                name="redemption_member_idx",
            ),
        ]

    def __str__(self):
        return f"{self.promotion_id} @ visit {self.visit_id}"
