"""The points ledger, tiers, the reward catalogue and vouchers.

Invariants kept here by database constraints and by ``rewards.services``:

* A wallet's ``available``, ``pending`` and ``debt`` are never negative and always
  equal what its lots and entries say (``points_verify`` checks it).
* Ledger entries are append-only: the model refuses updates and deletes, and a
  database trigger refuses them too (migration 0002). On SQLite a migration that
  rebuilds the ledger table drops the trigger: such a migration must create it
  again, as 0003 does (``test_the_database_refuses_a_raw_update`` catches it). Each entry is hash-chained
  to the member's previous one.
* Every credit is a lot with its own expiry; every movement out of or back into a
  lot is a ``LotAllocation`` row, so ``lot.amount + sum(allocations) ==
  lot.remaining`` for every lot.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import audited
from members.models import MONEY, Member, Service, ServiceCategory, Visit

PERCENT = {"max_digits": 5, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 3}


class AppendOnlyError(Exception):
    """Raised on an attempt to change or delete a ledger entry."""


# --- Program settings -------------------------------------------------------


class ProgramSettings(models.Model):
    """The program's one row of settings (pk=1), edited in the admin."""

    class EarnMode(models.TextChoices):
        POINTS = "points", _("Points per amount paid")
        CASHBACK = "cashback", _("Cashback (1 point = 1 unit of currency)")

    earn_mode = models.CharField(
        _("earn mode"), max_length=16, choices=EarnMode.choices, default=EarnMode.POINTS
    )
    earn_rate = models.DecimalField(
        _("base earn rate"),
        default=Decimal("5"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_(
            "Points per 100 of currency paid (points mode) or cashback percent "
            "(cashback mode). Tier multipliers apply on top."
        ),
        **RATE,
    )
    excluded_services_earn = models.BooleanField(
        _("services excluded from discounts earn points"),
        default=False,
        help_text=_("Off: services flagged “excluded from discounts” earn nothing."),
    )
    point_value = models.DecimalField(
        _("money value of a point"),
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("What one point pays at checkout. Cashback mode uses 1."),
        **MONEY,
    )
    max_points_share = models.DecimalField(
        _("max share of a bill payable by points, %"),
        default=Decimal("30"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        **PERCENT,
    )
    pending_days = models.PositiveSmallIntegerField(
        _("pending days"),
        default=0,
        help_text=_("Earned points become spendable after this many days."),
    )
    lot_lifetime_days = models.PositiveIntegerField(
        _("points lifetime, days"),
        default=365,
        validators=[MinValueValidator(1)],
        help_text=_("Each earning expires this many days after it was earned."),
    )
    inactivity_burn_months = models.PositiveSmallIntegerField(
        _("inactivity burn after, months"),
        null=True,
        blank=True,
        help_text=_(
            "Empty: off. Otherwise all points expire after this many "
            "months without a visit."
        ),
    )
    expiry_warning_days = models.PositiveSmallIntegerField(
        _("warn before expiry, days"), default=14
    )
    tier_window_days = models.PositiveIntegerField(
        _("tier qualification window, days"),
        default=365,
        validators=[MinValueValidator(1)],
    )
    tier_grace_days = models.PositiveIntegerField(
        _("tier grace period, days"),
        default=30,
        help_text=_("A member who stops qualifying keeps the tier this long."),
    )
    price_change_limit_pct = models.DecimalField(
        _("price change limit, %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("20"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_(
            "How far a line's price may differ from the service's price, up or "
            "down, when staff allowed to change prices (or a POS system) set it; "
            "further needs a manager's approval. Every changed price needs a reason."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = audited()

    class Meta:
        verbose_name = _("program settings")
        verbose_name_plural = _("program settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="program_settings_single"),
        ]

    def __str__(self) -> str:
        return str(_("Program settings"))

    @property
    def money_per_point(self) -> Decimal:
        if self.earn_mode == self.EarnMode.CASHBACK:
            return Decimal("1.00")
        return self.point_value


class CategoryEarnRate(models.Model):
    """An earn rate for one service category instead of the base rate."""

    category = models.OneToOneField(
        ServiceCategory,
        on_delete=models.CASCADE,
        related_name="earn_rate",
        verbose_name=_("category"),
    )
    rate = models.DecimalField(
        _("earn rate"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Same unit as the base rate; 0 earns nothing."),
        **RATE,
    )

    history = audited()

    class Meta:
        verbose_name = _("category earn rate")
        verbose_name_plural = _("category earn rates")

    def __str__(self) -> str:
        return f"{self.category}: {self.rate}"


# --- Tiers ------------------------------------------------------------------


class Tier(models.Model):
    """A level of the program. Rank 0 is where every member starts."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    min_visits = models.PositiveIntegerField(
        _("visits to qualify"),
        null=True,
        blank=True,
        help_text=_("Paid visits in the qualification window. Empty: not used."),
    )
    min_spend = models.DecimalField(
        _("spend to qualify"),
        null=True,
        blank=True,
        help_text=_("Money paid in the qualification window. Empty: not used."),
        **MONEY,
    )
    discount_percent = models.DecimalField(
        _("permanent discount, %"),
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        **PERCENT,
    )
    first_visit_discount_percent = models.DecimalField(
        _("first-visit discount, %"),
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        **PERCENT,
    )
    points_multiplier = models.DecimalField(
        _("points multiplier"),
        default=Decimal("1.00"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        max_digits=5,
        decimal_places=2,
    )
    perks = models.TextField(
        _("perks"), blank=True, help_text=_("Shown to members, one perk per line.")
    )
    monthly_reward = models.ForeignKey(
        "Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("monthly perk"),
        help_text=_("A voucher for this reward is issued on the 1st of each month."),
    )
    color = models.CharField(_("colour"), max_length=7, default="#888888")

    history = audited()

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        constraints = [
            models.CheckConstraint(
                condition=Q(rank=0)
                | Q(min_visits__isnull=False)
                | Q(min_spend__isnull=False),
                name="tier_above_base_has_threshold",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def text_color(self) -> str:
        """Black or white, whichever reads better on the tier's colour (a
        light silver badge with white text could not be read)."""
        hex_color = (self.color or "").lstrip("#")
        if len(hex_color) != 6:
            return "#fff"
        try:
            r, g, b = (int(hex_color[i : i + 2], 16) / 255 for i in (0, 2, 4))
        except ValueError:
            return "#fff"
        luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
        return "#1a1a1a" if luminance > 0.6 else "#fff"

    @property
    def perk_list(self) -> list[str]:
        return [p.strip() for p in self.perks.splitlines() if p.strip()]


# --- Wallet and ledger ------------------------------------------------------


class Wallet(models.Model):
    """A member's points balances and tier: the row every posting locks.

    ``available`` can be spent, ``pending`` waits for its pending period,
    ``debt`` is what a reversal could not take back and future earnings settle.
    ``seq`` and ``last_hash`` are the head of the member's hash chain.
    """

    member = models.OneToOneField(
        Member,
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="wallet",
        verbose_name=_("member"),
    )
    available = models.BigIntegerField(_("available points"), default=0)
    pending = models.BigIntegerField(_("pending points"), default=0)
    debt = models.BigIntegerField(_("points debt"), default=0)
    seq = models.PositiveIntegerField(default=0, editable=False)
    last_hash = models.CharField(max_length=64, default="", editable=False)
    tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wallets",
        verbose_name=_("tier"),
    )
    tier_since = models.DateTimeField(_("tier since"), null=True, blank=True)
    tier_at_risk_since = models.DateField(
        _("below tier threshold since"),
        null=True,
        blank=True,
        help_text=_(
            "Set by the nightly review when the member stops qualifying; "
            "the tier drops one step after the grace period."
        ),
    )
    tier_override_until = models.DateField(
        _("tier fixed until"),
        null=True,
        blank=True,
        help_text=_("A manager's tier choice holds until this date."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        permissions = [
            ("adjust_points", _("Can adjust a member's points")),
            ("override_tier", _("Can set a member's tier")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(available__gte=0), name="wallet_available_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(pending__gte=0), name="wallet_pending_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(debt__gte=0), name="wallet_debt_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return str(self.member)

    @property
    def balance(self) -> int:
        return self.available + self.pending


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("ledger entries are never updated")

    def delete(self):
        raise AppendOnlyError("ledger entries are never deleted")


class LedgerEntry(models.Model):
    """One movement of a member's points. Never updated, never deleted.

    ``amount`` changes the member's balance (available + pending), ``debt_change``
    their debt; ``balance_after`` / ``debt_after`` are the results. ``reason``
    and ``params`` render the member-facing explanation in any language
    (``rewards.explain``); ``note`` is a manager's own words.
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        BONUS = "bonus", _("Bonus")
        SPEND = "spend", _("Spent")
        EXPIRE = "expire", _("Expired")
        REVERSE = "reverse", _("Reversed")
        ADJUST = "adjust", _("Adjusted")
        DEBT_SETTLEMENT = "debt_settlement", _("Debt settled")

    # No index of its own: the unique (member, seq) index leads with member.
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="ledger_entries",
        verbose_name=_("member"),
    )
    seq = models.PositiveIntegerField(_("no."))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    amount = models.BigIntegerField(_("points"))
    debt_change = models.BigIntegerField(_("debt change"), default=0)
    balance_after = models.BigIntegerField(_("balance after"))
    debt_after = models.BigIntegerField(_("debt after"), default=0)
    reason = models.CharField(_("reason code"), max_length=40)
    params = models.JSONField(_("details"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("visit"),
    )
    voucher = models.ForeignKey(
        "Voucher",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("voucher"),
        db_index=False,
    )
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        verbose_name=_("reverses"),
        db_index=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        db_index=False,
    )
    actor_name = models.CharField(_("by (name)"), max_length=150, blank=True)
    # Unique through Meta.constraints, not ``unique=True``: on PostgreSQL that
    # would add a second, LIKE-only index (400 MB at 6M entries) that every
    # posting writes and no query reads.
    idempotency_key = models.CharField(max_length=160)
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "seq"], name="ledger_entry_unique_seq"
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], name="ledger_entry_unique_key"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="ledger_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(debt_after__gte=0), name="ledger_debt_not_negative"
            ),
        ]
        indexes = [
            # With the amounts: the home page's and the dashboards' sums of
            # points issued and redeemed over a period read the index alone.
            models.Index(
                fields=["kind", "created_at"],
                include=["amount", "debt_change"],
                name="ledger_kind_created_cover_idx",
            ),
            # Empty on nearly every entry: indexed only where set, so that
            # postings do not write three indexes of NULLs.
            models.Index(
                fields=["voucher"],
                condition=Q(voucher__isnull=False),
                name="ledger_voucher_idx",
            ),
            models.Index(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="ledger_reverses_idx",
            ),
            models.Index(
                fields=["actor"],
                condition=Q(actor__isnull=False),
                name="ledger_actor_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}#{self.seq} {self.kind} {self.amount:+d}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("ledger entries are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("ledger entries are never deleted")


class PointLot(models.Model):
    """Points credited together, with one expiry date: what spending draws from.

    ``pending_until`` is set while the points wait for their pending period.
    ``remaining`` is what is left; ``expired`` what the expiry job took.
    """

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="point_lots"
    )
    entry = models.ForeignKey(
        LedgerEntry,
        on_delete=models.PROTECT,
        related_name="lots",
        verbose_name=_("credited by"),
    )
    amount = models.BigIntegerField(_("points credited"))
    remaining = models.BigIntegerField(_("points left"))
    expired = models.BigIntegerField(_("points expired"), default=0)
    pending_until = models.DateTimeField(_("pending until"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"))
    created_at = models.DateTimeField(_("credited"), default=timezone.now)

    class Meta:
        ordering = ["expires_on", "id"]
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="lot_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="lot_remaining_within_amount",
            ),
        ]
        indexes = [
            # FIFO by expiry over a member's open lots: the spending path.
            models.Index(
                fields=["member", "expires_on", "id"],
                condition=Q(remaining__gt=0),
                name="lot_open_member_expiry_idx",
            ),
            # The nightly expiry scan.
            models.Index(
                fields=["expires_on"],
                condition=Q(remaining__gt=0),
                name="lot_open_expiry_idx",
            ),
            models.Index(
                fields=["pending_until"],
                condition=Q(pending_until__isnull=False),
                name="lot_pending_idx",
            ),
            # The analytics' daily points issued and breakage by credit day.
            models.Index(fields=["created_at"], name="lot_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount} → {self.expires_on}"


class LotAllocation(models.Model):
    """Points an entry took from (negative) or returned to (positive) a lot."""

    entry = models.ForeignKey(
        LedgerEntry, on_delete=models.PROTECT, related_name="allocations"
    )
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="allocation_amount_not_zero"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} @ lot {self.lot_id}"


class TierChange(models.Model):
    class Reason(models.TextChoices):
        JOINED = "joined", _("Joined the program")
        UPGRADE = "upgrade", _("Qualified")
        DOWNGRADE = "downgrade", _("Stopped qualifying")
        OVERRIDE = "override", _("Set by a manager")
        OVERRIDE_ENDED = "override_ended", _("Manager's choice ended")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("from"),
    )
    to_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    reason = models.CharField(_("why"), max_length=20, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    visit = models.ForeignKey(
        Visit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    changed_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = _("tier change")
        verbose_name_plural = _("tier history")
        indexes = [
            models.Index(fields=["member", "-changed_at"], name="tierchange_member_idx")
        ]

    def __str__(self) -> str:
        return f"{self.from_tier} → {self.to_tier}"


# --- Rewards and vouchers ---------------------------------------------------


class Reward(models.Model):
    """Something a member can buy with points (or get as a tier perk)."""

    class Kind(models.TextChoices):
        FREE_SERVICE = "free_service", _("Free service")
        # xgettext:no-python-format
        PERCENT_DISCOUNT = "percent_discount", _("% off the next visit")
        FIXED_DISCOUNT = "fixed_discount", _("Amount off the next visit")
        EXTENDED_SESSION = "extended_session", _("Extended session")
        ADD_ON = "add_on", _("Free add-on")
        PARTNER = "partner", _("Partner reward")
        PRIORITY_BOOKING = "priority_booking", _("Priority booking")

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    description = models.TextField(_("description"), blank=True)
    points_cost = models.PositiveIntegerField(_("points cost"))
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("service"),
        help_text=_("For a free service, add-on or extended session."),
    )
    discount_percent = models.DecimalField(
        _("discount, %"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        **PERCENT,
    )
    discount_amount = models.DecimalField(
        _("discount amount"), null=True, blank=True, **MONEY
    )
    min_tier = models.ForeignKey(
        Tier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("minimum tier"),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Empty: unlimited.")
    )
    per_member_limit = models.PositiveIntegerField(
        _("per-member limit"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    active_from = models.DateTimeField(_("active from"), null=True, blank=True)
    active_until = models.DateTimeField(_("active until"), null=True, blank=True)
    voucher_valid_days = models.PositiveIntegerField(
        _("voucher valid, days"), default=30, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)

    history = audited()

    class Meta:
        ordering = ["sort_order", "points_cost", "name"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["free_service", "add_on", "extended_session"])
                | Q(service__isnull=False),
                name="reward_service_kinds_have_service",
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent_discount")
                | Q(discount_percent__isnull=False),
                name="reward_percent_discount_has_percent",
            ),
            models.CheckConstraint(
                condition=~Q(kind="fixed_discount") | Q(discount_amount__gt=0),
                name="reward_fixed_discount_has_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Voucher(models.Model):
    """A reward a member holds, redeemable once at checkout by its code."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        USED = "used", _("Used")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    class Source(models.TextChoices):
        REDEMPTION = "redemption", _("Bought with points")
        TIER_PERK = "tier_perk", _("Tier perk")
        MANUAL = "manual", _("Issued by staff")
        PROMOTION = "promotion", _("A promotion")
        CAMPAIGN = "campaign", _("A campaign's offer")

    code = models.CharField(_("code"), max_length=16, unique=True)
    reward = models.ForeignKey(
        Reward,
        on_delete=models.PROTECT,
        related_name="vouchers",
        verbose_name=_("reward"),
    )
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="vouchers",
        verbose_name=_("member"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.REDEMPTION
    )
    points_cost = models.PositiveIntegerField(_("points paid"), default=0)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vouchers_used",
        verbose_name=_("used on visit"),
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    idempotency_key = models.CharField(max_length=160, unique=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        permissions = [("cancel_voucher", _("Can cancel a voucher"))]
        indexes = [
            models.Index(fields=["member", "status"], name="voucher_member_status_idx"),
            models.Index(
                fields=["valid_until"],
                condition=Q(status="active"),
                name="voucher_active_valid_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.reward}"


class VisitBenefit(models.Model):
    """A benefit applied to a visit at checkout: discount, voucher, points paid.

    Written with the visit by ``checkout_commit``, so a visit shows exactly the
    breakdown the front desk saw in the quote.
    """

    visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        related_name="benefits",
        verbose_name=_("visit"),
    )
    # An open set: each benefit source brings its kind (``rewards.benefits``).
    kind = models.CharField(_("kind"), max_length=40)
    source = models.CharField(_("source"), max_length=120)
    amount = models.DecimalField(_("amount"), **MONEY)
    points = models.BigIntegerField(_("points"), default=0)
    voucher = models.ForeignKey(
        Voucher,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reason = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("visit benefit")
        verbose_name_plural = _("visit benefits")
        indexes = [
            models.Index(
                fields=["voucher"],
                condition=Q(voucher__isnull=False),
                name="visit_benefit_voucher_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.amount}"


class VisitReceipt(models.Model):
    """The POS API's first answer for a recorded visit, kept for its retries.

    A retried booking gets this body again, as it was (like Stripe's
    idempotent requests), instead of the visit read back from four tables.
    """

    visit = models.OneToOneField(
        Visit,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="pos_receipt",
        verbose_name=_("visit"),
    )
    # The JSON text as sent: jsonb would reorder its keys, and a retry must get
    # the same bytes.
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("POS receipt")
        verbose_name_plural = _("POS receipts")

    def __str__(self) -> str:
        return f"receipt of visit #{self.visit_id}"


# --- Periodic jobs and notices ----------------------------------------------


class JobRun(models.Model):
    """One run of a daily job for one business date; the key of idempotency."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    job = models.CharField(_("job"), max_length=40)
    business_date = models.DateField(_("business date"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-business_date", "job"]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        constraints = [
            models.UniqueConstraint(
                fields=["job", "business_date"], name="jobrun_unique_job_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.business_date}"


class ExpiryNotice(models.Model):
    """ "Your points expire soon": queued for the messaging work to deliver."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="expiry_notices"
    )
    expires_on = models.DateField(_("expires on"))
    points = models.BigIntegerField(_("points"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("expiry notice")
        verbose_name_plural = _("expiry notices")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "expires_on"], name="expirynotice_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.points} → {self.expires_on}"
