"""Members, the catalogue of services, locations and paid visits."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from audit.history import audited
from members.admin_text import phone_masked

MONEY = {"max_digits": 12, "decimal_places": 2}


class Location(models.Model):
    """A branch of the business where visits happen (or a mobile team's base)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    code = models.SlugField(
        _("code"),
        max_length=40,
        unique=True,
        help_text=_("Short stable identifier used by integrations and reports."),
    )
    address = models.CharField(_("address"), max_length=255, blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("location")
        verbose_name_plural = _("locations")

    def __str__(self) -> str:
        return self.name


class ServiceCategory(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    description = models.TextField(_("description"), blank=True)
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = _("service category")
        verbose_name_plural = _("service categories")

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    """Something a member pays for: a 60-minute massage, an aromatherapy add-on."""

    category = models.ForeignKey(
        ServiceCategory,
        on_delete=models.PROTECT,
        related_name="services",
        verbose_name=_("category"),
    )
    name = models.CharField(_("name"), max_length=160, unique=True)
    code = models.SlugField(_("code"), max_length=60, unique=True)
    base_price = models.DecimalField(_("base price"), **MONEY)
    duration_minutes = models.PositiveSmallIntegerField(_("duration, minutes"))
    is_premium = models.BooleanField(
        _("premium"), default=False, help_text=_("Premium services may earn more.")
    )
    excluded_from_discounts = models.BooleanField(
        _("excluded from discounts"),
        default=False,
        help_text=_("Tier discounts and promotions never apply to this service."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["category__sort_order", "name"]
        verbose_name = _("service")
        verbose_name_plural = _("services")
        constraints = [
            models.CheckConstraint(
                condition=Q(base_price__gte=0), name="service_base_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="service_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A client of the business enrolled in the loyalty program.

    The visit stats are a cache of the member's paid visits, kept exact by the
    services in ``members.services`` (same transaction, ``F()`` updates) and
    checked nightly by ``member_stats_reconcile``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")
        ERASED = "erased", _("Erased")

    class JoinedVia(models.TextChoices):
        """How the member joined, for segments. A friend's code at sign-up is
        a referral whatever the channel."""

        # The front desk in the admin, or a booking/POS system (POS API).
        TILL = "till", _("Till")
        # Signed up themselves in the client app.
        APP = "app", _("App")
        REFERRAL = "referral", _("Referral")
        IMPORT = "import", _("Import")

    phone = PhoneNumberField(_("phone"), unique=True)
    email = models.EmailField(_("email"), blank=True)
    # Blank until the member fills in the profile: signing up in the app by phone
    # asks for nothing else.
    first_name = models.CharField(_("first name"), max_length=80, blank=True)
    last_name = models.CharField(_("last name"), max_length=80, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        # Empty means the site's LANGUAGE_CODE. Database defaults too: the bulk
        # writers (demo, imports) list their columns.
        default="",
        db_default="",
        help_text=_("Language of the messages the member receives."),
    )
    card_code = models.CharField(
        _("card code"),
        max_length=16,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("Printed on the member's card and shown as its QR code."),
    )
    # Salted hash of the phone an erased member had, so a returning number is
    # still known (referrals: only genuinely new clients count).
    # Indexed in Meta: equality only, so no LIKE twin (``db_index=True`` adds
    # one on PostgreSQL that every new member writes and no query reads).
    erased_phone_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        default="",
        db_default="",
    )
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    # The code a friend gave at sign-up; the referrals app qualifies it later.
    signup_referral_code = models.CharField(
        _("referral code at sign-up"),
        max_length=32,
        blank=True,
        default="",
        db_default="",
    )
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)
    # Set once, when the member is created (``member_register``, the bulk
    # writers). A database default too: the bulk writers list their columns.
    joined_via = models.CharField(
        _("joined via"),
        max_length=16,
        choices=JoinedVia.choices,
        default=JoinedVia.TILL,
        db_default=JoinedVia.TILL,
        help_text=_("How the member joined: till, app, a friend's referral, import."),
    )
    registration_location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="registered_members",
        verbose_name=_("registration location"),
    )
    preferences = models.TextField(
        _("preferences"),
        blank=True,
        help_text=_("Preferred services, master, pressure, allergies…"),
    )

    # Marketing consents, one per channel, with when the member last changed it.
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_sms_at = models.DateTimeField(
        _("SMS consent changed"), null=True, blank=True
    )
    consent_email = models.BooleanField(_("email consent"), default=False)
    consent_email_at = models.DateTimeField(
        _("email consent changed"), null=True, blank=True
    )
    consent_push = models.BooleanField(_("push consent"), default=False)
    consent_push_at = models.DateTimeField(
        _("push consent changed"), null=True, blank=True
    )

    # Cached stats over paid visits.
    visits_count = models.PositiveIntegerField(_("visits"), default=0)
    total_spent = models.DecimalField(_("total spent"), default=Decimal("0"), **MONEY)
    first_visit_at = models.DateTimeField(_("first visit"), null=True, blank=True)
    last_visit_at = models.DateTimeField(_("last visit"), null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audited()

    class Meta:
        ordering = ["-registered_at"]
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [
            # Without it (the analyst) phones and emails are masked and birthdays
            # hidden: counting and segmenting need no one's contacts.
            ("view_member_contacts", _("Can see members' phones, emails, birthdays")),
            ("erase_member", _("Can erase a member's personal data")),
            ("change_member_registration", _("Can correct a member's registration")),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="member_name_idx"),
            models.Index(fields=["email"], name="member_email_idx"),
            # No index on the visit stats (``last_visit_at`` and the rest): every
            # visit rewrites them, and an indexed column would make each of
            # those updates write a new entry into all of the member's indexes
            # (four of them trigram GIN) instead of a heap-only (HOT) update —
            # ~16× the WAL. The tables are filled to 90 % (migration
            # members 0008) so that the update finds room on its page.
            # Except the first visit's time: it changes once in a member's
            # life (LEAST keeps it on every later visit, and an unchanged
            # value leaves the update heap-only); the home page counts new
            # members by it.
            models.Index(fields=["first_visit_at"], name="member_first_visit_idx"),
            models.Index(fields=["birthday"], name="member_birthday_idx"),
            models.Index(fields=["erased_phone_hash"], name="member_erased_phone_idx"),
            models.Index(fields=["-registered_at"], name="member_registered_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_spent__gte=0), name="member_total_spent_not_negative"
            ),
        ]

    def __str__(self) -> str:
        # Masked: this text reaches every admin list and autocomplete, whoever
        # reads it; the full number is on the member's page for those allowed.
        return f"{self.full_name} ({phone_masked(self.phone)})"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class Visit(models.Model):
    """One paid appointment: a member, a location, one or more service lines.

    ``(source, external_id)`` is unique, so the same booking sent twice by a
    booking/POS system records once. ``fingerprint`` hashes the content the
    booking carried, to tell a retry (same content) from a conflicting reuse of
    an id (different content).
    """

    class Status(models.TextChoices):
        PAID = "paid", _("Paid")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")

    class Source(models.TextChoices):
        ADMIN = "admin", _("Admin checkout")
        POS = "pos", _("Booking/POS system")
        IMPORT = "import", _("Import")
        DEMO = "demo", _("Demo data")

    class PaymentMethod(models.TextChoices):
        CASH = "cash", _("Cash")
        CARD = "card", _("Card")
        ONLINE = "online", _("Online")
        GIFT_CERTIFICATE = "gift_certificate", _("Gift certificate")

    # No index of their own: ``visit_member_paid_idx`` and
    # ``visit_location_paid_idx`` lead with them and serve their lookups.
    # Empty on an anonymous visit (a POS sale to a client who is no member):
    # recorded with its lines and money for revenue and the average check, it
    # earns nothing and counts in no member's stats.
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visits",
        verbose_name=_("member"),
        db_index=False,
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="visits",
        verbose_name=_("location"),
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PAID
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.ADMIN
    )
    external_id = models.CharField(
        _("external id"),
        max_length=100,
        blank=True,
        help_text=_("The booking's id in the system that sent it."),
    )
    fingerprint = models.CharField(max_length=64, editable=False)
    total = models.DecimalField(_("total"), **MONEY)
    amount_paid = models.DecimalField(_("paid in money"), **MONEY)
    amount_refunded = models.DecimalField(
        _("refunded in money"),
        default=Decimal("0"),
        db_default=Decimal("0"),
        help_text=_("Money returned by partial refunds of some of its lines."),
        **MONEY,
    )
    paid_at = models.DateTimeField(_("paid at"), default=timezone.now)
    # How the money part was paid. Empty on visits recorded before it was asked
    # and when a till does not say. A database default too: the bulk writers
    # (demo, imports) list their columns, and adding the column to a table of
    # millions of visits stays a catalogue change.
    payment_method = models.CharField(
        _("payment method"),
        max_length=20,
        choices=PaymentMethod.choices,
        blank=True,
        default="",
        db_default="",
    )
    # Salted hash of the payment card token the POS sent (never the token):
    # the referrals app spots several new clients paying with one card.
    payment_card_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        default="",
        db_default="",
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
        db_index=False,
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("status changed by"),
        db_index=False,
    )
    status_reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        ordering = ["-paid_at"]
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        permissions = [
            ("cancel_visit", _("Can cancel a visit")),
            ("refund_visit", _("Can refund a visit")),
            # A price other than the service's: within the program's limit,
            # and beyond it (a manager's approval). Always with a reason.
            ("change_visit_price", _("Can charge a price other than the service's")),
            ("approve_visit_price", _("Can approve a price beyond the limit")),
        ]
        indexes = [
            models.Index(fields=["member", "-paid_at"], name="visit_member_paid_idx"),
            models.Index(fields=["paid_at"], name="visit_paid_at_idx"),
            # Members' paid visits by date with what windows over them read
            # (segments' "visits/spent in the last N days", the analytics
            # aggregates): an index-only scan instead of the visits' heap.
            models.Index(
                fields=["paid_at"],
                include=["member", "location", "amount_paid", "amount_refunded"],
                condition=Q(status="paid", member__isnull=False),
                name="visit_paid_cover_idx",
            ),
            models.Index(
                fields=["location", "paid_at"], name="visit_location_paid_idx"
            ),
            # Not ``db_index=True``: on PostgreSQL that adds a LIKE-only twin
            # index that every visit writes and no query reads.
            models.Index(fields=["payment_card_hash"], name="visit_card_hash_idx"),
            # Staff columns, empty on nearly every visit (POS visits have no
            # staff user): indexed only where set.
            models.Index(
                fields=["recorded_by"],
                condition=Q(recorded_by__isnull=False),
                name="visit_recorded_by_idx",
            ),
            models.Index(
                fields=["status_changed_by"],
                condition=Q(status_changed_by__isnull=False),
                name="visit_status_changed_by_idx",
            ),
            # The analytics' refresh: which visits a period cancelled.
            models.Index(
                fields=["status_changed_at"],
                condition=Q(status_changed_at__isnull=False),
                name="visit_status_changed_at_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="visit_unique_external_id_per_source",
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0), name="visit_total_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0) & Q(amount_paid__lte=models.F("total")),
                name="visit_amount_paid_within_total",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0)
                & Q(amount_refunded__lte=models.F("amount_paid")),
                name="visit_amount_refunded_within_paid",
            ),
        ]

    def __str__(self) -> str:
        return _("Visit #%(id)s") % {"id": self.pk}


class VisitLine(models.Model):
    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="lines", verbose_name=_("visit")
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="+", verbose_name=_("service")
    )
    price = models.DecimalField(_("price"), **MONEY)
    # The service's price when the visit was recorded, and why the line's own
    # price differs from it (empty when it does not). None on lines recorded
    # before the list price was kept.
    list_price = models.DecimalField(_("list price"), null=True, blank=True, **MONEY)
    price_reason = models.CharField(
        _("reason for the price"), max_length=255, blank=True, default="", db_default=""
    )
    quantity = models.PositiveSmallIntegerField(_("quantity"), default=1)
    refunded_quantity = models.PositiveSmallIntegerField(
        _("refunded quantity"), default=0, db_default=0
    )
    # Who performed it; None when not stated (and on lines from before).
    specialist = models.ForeignKey(
        "members.Specialist",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visit_lines",
        verbose_name=_("specialist"),
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("visit line")
        verbose_name_plural = _("visit lines")
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0), name="visit_line_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="visit_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=models.F("quantity")),
                name="visit_line_refunded_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} × {self.quantity}"

    @property
    def amount(self) -> Decimal:
        return self.price * self.quantity


class VisitRefund(models.Model):
    """A partial refund: some lines (or part of their quantity) of a paid visit.

    ``key`` makes it idempotent (a retried refund request records once). A full
    refund changes the visit's status instead and has no row here.
    """

    visit = models.ForeignKey(
        Visit,
        on_delete=models.PROTECT,
        related_name="refunds",
        verbose_name=_("visit"),
    )
    key = models.CharField(_("idempotency key"), max_length=150, unique=True)
    amount = models.DecimalField(_("money refunded"), **MONEY)
    lines = models.JSONField(
        _("lines"), default=list, help_text=_("[{line, service, quantity, amount}]")
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("refunded at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("refunded by"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("partial refund")
        verbose_name_plural = _("partial refunds")
        # The analytics' refresh: which visits a period's refunds changed.
        indexes = [models.Index(fields=["created_at"], name="visit_refund_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="visit_refund_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return _("Refund of visit #%(id)s") % {"id": self.visit_id}


class MemberPhone(models.Model):
    """Every phone a member has had, as a salted hash: kept through changes
    and erasure, so "was this phone ever a member?" has an exact answer."""

    # No index of its own: ``member_phone_unique`` leads with it.
    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="phone_history",
        verbose_name=_("member"),
        db_index=False,
    )
    phone_hash = models.CharField(max_length=64, editable=False)
    since = models.DateTimeField(_("since"), default=timezone.now)

    class Meta:
        verbose_name = _("phone of a member")
        verbose_name_plural = _("phones of members")
        # Equality only: a plain index, without the LIKE twin of db_index.
        indexes = [models.Index(fields=["phone_hash"], name="member_phone_hash_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "phone_hash"], name="member_phone_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.phone_hash[:12]}…"
