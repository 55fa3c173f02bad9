"""Segments: saved rules over member data, evaluated set-based in SQL
(``campaigns.segments``), and the per-member scores they read, recomputed
nightly (``campaigns.scores``)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import audited
from members.models import Location, Member, ServiceCategory, Specialist

MONEY = {"max_digits": 12, "decimal_places": 2}


class Segment(models.Model):
    """A group of members defined by rules: ``definition`` is a tree of AND/OR
    groups over the conditions of ``campaigns.segments.CONDITIONS``::

        {"op": "and", "rules": [
            {"field": "last_visit_days", "cmp": "gte", "value": 90},
            {"op": "or", "rules": [...]}]}

    The five built-in segments (``builtin`` set) can be edited, not deleted.
    """

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    builtin = models.SlugField(
        _("built-in segment"),
        max_length=20,
        unique=True,
        null=True,
        blank=True,
        editable=False,
    )
    definition = models.JSONField(_("rules"), default=dict, blank=True)
    last_count = models.PositiveIntegerField(_("members"), null=True, blank=True)
    counted_at = models.DateTimeField(_("counted"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    history = audited()

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class MemberScore(models.Model):
    """What the segments read about a member that a column of ``Member`` does
    not hold, recomputed nightly for every member in a few set-based
    statements (``campaigns.scores.scores_refresh``).

    RFM: ``r_score``, ``f_score``, ``m_score`` from 1 (lowest) to 5 (best),
    quintiles among the members with a paid visit in the last 12 months;
    0 for a member without one. ``spend_top_percent``: the share of those
    members who spent more in 12 months (0 = the top spender; top 10 % is
    ``< 10``); 100 without a visit.
    """

    member = models.OneToOneField(
        Member,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="score",
        verbose_name=_("member"),
    )
    computed_on = models.DateField(_("computed on"))
    recency_days = models.PositiveIntegerField(
        _("days since the last visit"), null=True, blank=True
    )
    visits_12m = models.PositiveIntegerField(_("visits in 12 months"), default=0)
    spend_12m = models.DecimalField(
        _("spent in 12 months"), default=Decimal("0"), **MONEY
    )
    r_score = models.PositiveSmallIntegerField(_("recency score"), default=0)
    f_score = models.PositiveSmallIntegerField(_("frequency score"), default=0)
    m_score = models.PositiveSmallIntegerField(_("money score"), default=0)
    spend_top_percent = models.DecimalField(
        _("top percent by 12-month spend"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("100"),
    )
    main_location = models.ForeignKey(
        Location,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("most visited location"),
    )
    favourite_specialist = models.ForeignKey(
        Specialist,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("favourite specialist"),
    )

    class Meta:
        verbose_name = _("member score")
        verbose_name_plural = _("member scores")

    def __str__(self) -> str:
        return f"{self.member_id}: R{self.r_score} F{self.f_score} M{self.m_score}"


class MemberCategory(models.Model):
    """A service category a member has tried: one row per member and category
    with a paid visit that has a line of it not wholly refunded, recomputed
    nightly with the scores (``campaigns.scores.scores_refresh``). Read by the
    "visited category" / "never tried category" segment conditions
    (``campaigns.categories.members_with_category``).
    """

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="+",
        # Indexed by the unique constraint (member first) and the index of
        # Meta (category first): no index of their own.
        db_index=False,
        verbose_name=_("member"),
    )
    category = models.ForeignKey(
        ServiceCategory,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("category"),
    )
    first_at = models.DateTimeField(_("first visit"))
    last_at = models.DateTimeField(_("last visit"))
    visits = models.PositiveIntegerField(_("visits"))

    class Meta:
        verbose_name = _("category tried")
        verbose_name_plural = _("categories tried")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "category"], name="member_category_unique"
            ),
        ]
        indexes = [
            # "Members who tried these categories": category first.
            models.Index(
                fields=["category", "member"], name="member_category_by_category"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.category_id} × {self.visits}"
