"""Where a campaign finds its members: each trigger as one queryset of rows
``(mid, occ, trig)`` — the member, the occurrence (what makes this time
different from the next: a visit's id, the date of a last visit, a year) and
when it happened. ``campaigns.journeys`` inserts them set-based.

Every trigger looks back ``lookback_days``: a run that did not happen for a
few days (downtime) still finds what fired meanwhile, and a second run finds
the same rows, which the unique (campaign, member, occurrence) turns away.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import (
    CharField,
    DateTimeField,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Cast

from campaigns.models import Campaign
from campaigns.segments import birthday_days_q
from members.models import Member, Visit, VisitLine
from rewards.models import PointLot
from rewards.selectors import day_start

Trigger = Campaign.Trigger


def _text(value) -> Value:
    return Value(str(value), output_field=CharField())


def _members(campaign: Campaign, today: date, now: datetime):
    """Members and the occurrence of the campaign's trigger that fired within
    its look-back, as of ``now``."""
    n = campaign.trigger_days or 0
    back = max(campaign.lookback_days, 1)
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    trigger = campaign.trigger
    if trigger in (Trigger.NONE, ""):  # a one-off: everyone in the audience, once
        at = campaign.send_at or now
        return members.annotate(occ=_text("once"), trig=Value(at, DateTimeField()))
    if trigger == Trigger.NO_VISIT:
        # The last visit is N days old: from the N-th local midnight after it,
        # for ``back`` days.
        return members.filter(
            last_visit_at__lt=day_start(today - timedelta(days=n - 1)),
            last_visit_at__gte=day_start(today - timedelta(days=n + back - 1)),
        ).annotate(occ=Cast("last_visit_at", CharField()), trig=F("last_visit_at"))
    if trigger == Trigger.SIGNED_UP:
        return members.filter(
            visits_count=0,
            registered_at__lt=day_start(today - timedelta(days=n - 1)),
            registered_at__gte=day_start(today - timedelta(days=n + back - 1)),
        ).annotate(occ=_text("signup"), trig=F("registered_at"))
    if trigger == Trigger.BIRTHDAY:
        # Within N days of the birthday; once a year (the year it is noticed).
        return members.filter(birthday_days_q(n, today)).annotate(
            occ=_text(today.year), trig=Value(now, DateTimeField())
        )
    if trigger == Trigger.ANNIVERSARY:
        days = Q()
        for offset in range(back):
            day = today - timedelta(days=offset)
            days |= Q(first_visit_at__month=day.month, first_visit_at__day=day.day)
        return members.filter(
            days, first_visit_at__lt=day_start(today - timedelta(days=360))
        ).annotate(occ=_text(today.year), trig=Value(now, DateTimeField()))
    if trigger == Trigger.POINTS_EXPIRING:
        lots = PointLot.objects.filter(
            member=OuterRef("pk"),
            remaining__gt=0,
            expires_on__gte=today,
            expires_on__lte=today + timedelta(days=n),
        )
        first = (
            lots.values("member").annotate(first=Min("expires_on")).values("first")[:1]
        )
        return members.filter(Exists(lots)).annotate(
            occ=Cast(Subquery(first), CharField()), trig=Value(now, DateTimeField())
        )
    if trigger == Trigger.TIER_AT_RISK:
        return members.filter(
            wallet__tier_at_risk_since__isnull=False,
            wallet__tier_at_risk_since__gte=today - timedelta(days=back - 1),
        ).annotate(
            occ=Cast("wallet__tier_at_risk_since", CharField()),
            trig=Value(now, DateTimeField()),
        )
    raise ValueError(f"unknown trigger {trigger!r}")


def trigger_rows(campaign: Campaign, *, today: date, now: datetime, audience: Q):
    """The queryset of ``(mid, occ, trig)`` for the campaign's trigger, its
    audience (``audience``: a ``Q`` over members) applied."""
    if campaign.trigger == Trigger.VISIT:
        visits = Visit.objects.filter(
            status=Visit.Status.PAID,
            member__isnull=False,
            member__status=Member.Status.ACTIVE,
            paid_at__gte=day_start(
                today - timedelta(days=max(campaign.lookback_days, 1) - 1)
            ),
            paid_at__lte=now,
            member_id__in=Member.objects.filter(audience).values("pk"),
        )
        categories = list(campaign.trigger_categories.values_list("pk", flat=True))
        if categories:
            visits = visits.filter(
                Exists(
                    VisitLine.objects.filter(
                        visit=OuterRef("pk"), service__category_id__in=categories
                    )
                )
            )
        return visits.annotate(
            mid=F("member_id"), occ=Cast("pk", CharField()), trig=F("paid_at")
        ).values_list("mid", "occ", "trig")
    rows = _members(campaign, today, now).filter(audience)
    return rows.annotate(mid=F("pk")).values_list("mid", "occ", "trig")
