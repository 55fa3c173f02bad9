"""Daily aggregates of visits, members and points (filled by analytics.aggregates).

Dimensions: the local day (``paid_at`` in the program's time zone), the
location and the tier *at the visit* — the tier the member held when paying,
before the visit's own effect (``analytics.aggregates.tier_at``; None for
anonymous visits). Tier and location are plain ids without a foreign key
constraint: the aggregates are rebuilt from the raw tables, and a bulk insert
of them should not lock catalogue rows.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from members.models import Location
from rewards.models import Tier

__all__ = ["CohortStat", "DailyStat"]

MONEY = {"max_digits": 14, "decimal_places": 2, "default": 0}


class DailyStat(models.Model):
    """The additive figures of one local day × location × tier.

    Money is ``amount_paid − amount_refunded`` of paid visits. ``new_members``
    are members whose first-ever paid visit was that day (at that location
    and tier); ``new_retained`` those of them with another paid visit at most
    30 × 24 h later. Points: ``points_*`` are ledger movements on that day
    (location: the visit's the entry belongs to, else None); ``lots_*`` are
    the lots *credited* that day with what of them has expired so far (the
    breakage rate's parts).
    """

    day = models.DateField(_("day"))
    location = models.ForeignKey(
        Location,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        db_index=False,
        related_name="+",
        verbose_name=_("location"),
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        db_index=False,
        related_name="+",
        verbose_name=_("tier"),
    )
    member_visits = models.PositiveIntegerField(_("members' paid visits"), default=0)
    member_money = models.DecimalField(_("members' money"), **MONEY)
    anon_visits = models.PositiveIntegerField(_("anonymous paid visits"), default=0)
    anon_money = models.DecimalField(_("anonymous money"), **MONEY)
    new_members = models.PositiveIntegerField(_("new members"), default=0)
    new_retained = models.PositiveIntegerField(_("new members retained"), default=0)
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_redeemed = models.BigIntegerField(_("points redeemed"), default=0)
    points_expired = models.BigIntegerField(_("points expired"), default=0)
    lots_issued = models.BigIntegerField(_("points of lots credited"), default=0)
    lots_expired = models.BigIntegerField(_("of them expired"), default=0)

    class Meta:
        verbose_name = _("daily figures")
        verbose_name_plural = _("daily figures")
        indexes = [models.Index(fields=["day"], name="dailystat_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.location_id}/{self.tier_id}"


class CohortStat(models.Model):
    """Members of a cohort (month of their first-ever paid visit, at that
    visit's location and tier) with a paid visit ``offset`` months later
    (0–12; offset 0 is the cohort's size)."""

    cohort = models.DateField(_("cohort month"))
    offset = models.PositiveSmallIntegerField(_("months after"))
    location = models.ForeignKey(
        Location,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        db_index=False,
        related_name="+",
        verbose_name=_("location"),
    )
    tier = models.ForeignKey(
        Tier,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        db_index=False,
        related_name="+",
        verbose_name=_("tier"),
    )
    members = models.PositiveIntegerField(_("members"), default=0)

    class Meta:
        verbose_name = _("cohort figures")
        verbose_name_plural = _("cohort figures")
        indexes = [models.Index(fields=["cohort"], name="cohortstat_cohort_idx")]

    def __str__(self) -> str:
        return f"{self.cohort} +{self.offset}"
