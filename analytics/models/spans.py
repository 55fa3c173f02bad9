"""Distinct members over windows of days (filled by ``analytics.spans``).

Active, lost, the repeat purchase rate and churn count *distinct* members
over a window of days, which no sum of daily figures gives. ``SpanStat``
holds, for each local day ``day`` and each possible start of a window
``since`` (up to ``ANALYTICS_SPAN_DAYS`` before it), how many of that day's
paid visits are a member's first, and how many their second, paid visit in a
window starting on ``since``. Summed over the days of a window [S, E] at
``since = S`` (one row a day), they give the members with ≥ 1 and with ≥ 2
paid visits in it.

Scope: ``location`` NULL counts visits anywhere; a location counts only the
visits there (a member's visits elsewhere are not seen). The rows with
``since`` NULL hold, in ``members``, the members whose first-ever paid visit
(in the scope) was that day. The specialist and tier filters have no rows
here: those figures are counted from the visits.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from members.models import Location

__all__ = ["SpanState", "SpanStat"]


class SpanStat(models.Model):
    """Of one day's paid visits (in a scope), how many are a member's first
    and second in a window of days starting on ``since``."""

    day = models.DateField(_("day"))
    since = models.DateField(_("window starts"), null=True)
    location = models.ForeignKey(
        Location,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        db_index=False,
        related_name="+",
        verbose_name=_("location"),
    )
    members = models.IntegerField(_("members"), default=0)
    repeat_members = models.IntegerField(_("members with ≥ 2 visits"), default=0)

    class Meta:
        verbose_name = _("window figures")
        verbose_name_plural = _("window figures")
        indexes = [
            # A window [S, E] reads since = S, day in [S, E]: one row a day
            # and scope, from the index alone on PostgreSQL.
            models.Index(
                fields=["since", "day", "location"],
                include=["members", "repeat_members"],
                name="spanstat_window_idx",
            ),
            models.Index(fields=["day"], name="spanstat_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} from {self.since} @{self.location_id}"


class SpanState(models.Model):
    """Whether ``SpanStat`` has been built from scratch (``analytics_rebuild``)
    and with which window limit: until then the dashboards count those
    figures from the visits."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    built_at = models.DateTimeField(_("built at"))
    span_days = models.PositiveIntegerField(_("longest window, days"))

    class Meta:
        verbose_name = _("window figures state")
        verbose_name_plural = _("window figures state")

    def __str__(self) -> str:
        return f"{self.built_at:%Y-%m-%d %H:%M} ({self.span_days} days)"
