"""Aggregates of specialists and services, and the marketing spend per month.

The aggregates are filled by ``analytics.aggregates_extra.extra_refresh``
(delete the days, insert them again from the visit lines; the months summed
again from their days) and read by ``analytics.selectors_extra``; nothing
else writes them. Their days are local dates of ``paid_at`` in the
program's time zone; only paid visits count.
A line's money is ``price × (quantity − refunded_quantity)``: what the
service sold for, net of the units refunded.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "MarketingSpend",
    "MemberValueDaily",
    "ServiceDaily",
    "ServiceMonthly",
    "ServicePairDaily",
    "ServicePairMonthly",
    "SpecialistDaily",
    "SpecialistMonthly",
]

MONEY = {"max_digits": 12, "decimal_places": 2}
# Sums over a day or a month of a location: wider than one visit's amount.
MONEY_SUM = {"max_digits": 16, "decimal_places": 2}
# The aggregates point at the catalogue without a database constraint or an
# index of their own: a rebuild rewrites them, and nothing looks them up by it.


class MarketingSpend(models.Model):
    """What the business spent on marketing in a month, entered by a manager:
    the numerator of CAC (``analytics.selectors_extra.dashboard_ltv``)."""

    month = models.DateField(
        _("month"),
        unique=True,
        help_text=_("The first day of the month the money was spent in."),
    )
    amount = models.DecimalField(
        _("amount"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Money spent on marketing in the month."),
        **MONEY,
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("entered by"),
        editable=False,
    )
    entered_at = models.DateTimeField(
        _("entered"), default=timezone.now, editable=False
    )

    class Meta:
        ordering = ["-month"]
        verbose_name = _("marketing spend")
        verbose_name_plural = _("marketing spend")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="marketing_spend_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")

    def clean(self) -> None:
        if self.month is not None and self.month.day != 1:
            # Any day of the month names it: store its first day.
            self.month = self.month.replace(day=1)
        if self.amount is not None and self.amount < 0:
            raise ValidationError(
                {"amount": _("A month's spend cannot be negative.")},
                code="negative_spend",
            )


def _location():
    return models.ForeignKey(
        "members.Location",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("location"),
    )


def _service(label=None):
    return models.ForeignKey(
        "members.Service",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=label or _("service"),
    )


def _specialist(**kwargs):
    return models.ForeignKey(
        "members.Specialist",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("specialist"),
        **kwargs,
    )


class ServiceFigures(models.Model):
    """Per location, specialist and service: units sold, their money and the
    visits that had the service (by that specialist). Per day
    (``ServiceDaily``) and, summed from the days, per month
    (``ServiceMonthly``) for long periods."""

    location = _location()
    # None: lines that did not say who performed them.
    specialist = _specialist(null=True)
    service = _service()
    units = models.PositiveIntegerField(_("units sold"), default=0)
    revenue = models.DecimalField(_("revenue"), default=Decimal("0"), **MONEY_SUM)
    visits = models.PositiveIntegerField(_("visits"), default=0)

    class Meta:
        abstract = True


class ServiceDaily(ServiceFigures):
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("service by day")
        verbose_name_plural = _("services by day")
        indexes = [
            models.Index(fields=["day", "location"], name="an_service_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.service_id}"


class ServiceMonthly(ServiceFigures):
    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("service by month")
        verbose_name_plural = _("services by month")
        indexes = [
            models.Index(fields=["month", "location"], name="an_service_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.service_id}"


class SpecialistFigures(models.Model):
    """Per location and specialist: the visits they served, their lines'
    money, and the members' visits among them split by whether the
    specialist had served the member before (the repeat rate's parts). Per
    day and, summed from the days, per month."""

    location = _location()
    specialist = _specialist()
    visits = models.PositiveIntegerField(_("visits"), default=0)
    revenue = models.DecimalField(_("revenue"), default=Decimal("0"), **MONEY_SUM)
    member_visits = models.PositiveIntegerField(_("members' visits"), default=0)
    returning_visits = models.PositiveIntegerField(
        _("returning members' visits"), default=0
    )

    class Meta:
        abstract = True


class SpecialistDaily(SpecialistFigures):
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("specialist by day")
        verbose_name_plural = _("specialists by day")
        indexes = [
            models.Index(fields=["day", "location"], name="an_specialist_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.specialist_id}"


class SpecialistMonthly(SpecialistFigures):
    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("specialist by month")
        verbose_name_plural = _("specialists by month")
        indexes = [
            models.Index(fields=["month", "location"], name="an_specialist_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.specialist_id}"


class PairFigures(models.Model):
    """Per location: the paid visits that had both services of a pair
    (``service_a_id < service_b_id``). Per day and, summed from the days (a
    visit has one day), per month — the dashboard reads the months."""

    location = _location()
    service_a = _service()
    service_b = _service(_("bought with"))
    visits = models.PositiveIntegerField(_("visits"), default=0)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(service_a__lt=models.F("service_b")),
                name="%(class)s_ordered",
            ),
        ]


class ServicePairDaily(PairFigures):
    day = models.DateField(_("day"))

    class Meta(PairFigures.Meta):
        verbose_name = _("services bought together by day")
        verbose_name_plural = _("services bought together by day")
        indexes = [models.Index(fields=["day"], name="an_pair_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.service_a_id}+{self.service_b_id}"


class ServicePairMonthly(PairFigures):
    month = models.DateField(_("month"))

    class Meta(PairFigures.Meta):
        verbose_name = _("services bought together")
        verbose_name_plural = _("services bought together")
        indexes = [
            models.Index(fields=["month", "location"], name="an_pair_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.service_a_id}+{self.service_b_id}"


class MemberValueDaily(models.Model):
    """The members grouped by the day of their first-ever paid visit, their
    registration location, current tier and how they joined: how many, their
    lifetime money (``Member.total_spent``) and their money of the last 12
    months (``campaigns.MemberScore``, nightly). A snapshot of the member
    table, rebuilt whole by each refresh: the LTV, CAC and new-client figures
    read it instead of a million members."""

    first_day = models.DateField(_("first paid visit"))
    location = models.ForeignKey(
        "members.Location",
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("registration location"),
    )
    tier = models.ForeignKey(
        "rewards.Tier",
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("tier"),
    )
    joined_via = models.CharField(_("joined via"), max_length=16)
    members = models.PositiveIntegerField(_("members"), default=0)
    lifetime_revenue = models.DecimalField(
        _("lifetime revenue"), default=Decimal("0"), **MONEY_SUM
    )
    members_12m = models.PositiveIntegerField(
        _("members with a visit in 12 months"), default=0
    )
    revenue_12m = models.DecimalField(
        _("revenue in 12 months"), default=Decimal("0"), **MONEY_SUM
    )

    class Meta:
        verbose_name = _("member value by first visit")
        verbose_name_plural = _("member value by first visit")
        indexes = [models.Index(fields=["first_day"], name="an_member_value_day_idx")]

    def __str__(self) -> str:
        return f"{self.first_day} {self.joined_via}"
