"""The expressions the aggregates, the window figures and the reference KPIs
share: paid visits, their money and local day, the tier at a moment, first
visits and their 30-day retention."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from members.models import Visit
from rewards.models import TierChange, Wallet
from rewards.selectors.program import day_start

PAID = Visit.Status.PAID
RETENTION = timedelta(days=30)


def local_day(expr: str) -> TruncDate:
    """The local date (program's time zone) of a datetime column."""
    return TruncDate(expr, tzinfo=timezone.get_current_timezone())


def tier_at(member: str = "member_id", at: str = "paid_at") -> Coalesce:
    """The member's tier at a moment: the tier they held then, before what
    happened at that moment took effect (a visit counts at the tier it was
    paid in, not the one it earned).

    That is the ``from_tier`` of the member's first ``TierChange`` at or after
    the moment (its ``to_tier`` when it was the joining one, from no tier),
    else the wallet's tier now. The answer for a past moment does not change
    when later changes are written. None for anonymous visits.
    """
    following = TierChange.objects.filter(
        member_id=OuterRef(member), changed_at__gte=OuterRef(at)
    ).order_by("changed_at", "id")
    # One probe of the member's changes (and of the wallet when none follows).
    tier = Coalesce("from_tier_id", "to_tier_id", output_field=IntegerField())
    then = following.values(tier=tier)[:1]
    return Coalesce(
        Subquery(then),
        Subquery(Wallet.objects.filter(pk=OuterRef(member)).values("tier_id")[:1]),
        output_field=IntegerField(),
    )


def paid_visits():
    return Visit.objects.filter(status=PAID)


def money():
    return F("amount_paid") - F("amount_refunded")


def first_visits():
    """Members' first-ever paid visits (ties on ``paid_at`` go to the lower id)."""
    earlier = paid_visits().filter(
        Q(paid_at__lt=OuterRef("paid_at"))
        | Q(paid_at=OuterRef("paid_at"), id__lt=OuterRef("id")),
        member_id=OuterRef("member_id"),
    )
    return paid_visits().filter(member__isnull=False).filter(~Exists(earlier))


def first_visits_between(day_from: date, day_to: date):
    """``first_visits()`` paid in [day_from, day_to], found from the members'
    cached first-visit time (``Member.first_visit_at``, indexed, kept exact by
    the visit services and the nightly reconcile): a range of that index and
    a probe a new member, not a probe of every visit of the range."""
    bounds = _between("member__first_visit_at", day_from, day_to)
    same_instant = paid_visits().filter(
        member_id=OuterRef("member_id"),
        paid_at=OuterRef("paid_at"),
        id__lt=OuterRef("id"),
    )
    return (
        paid_visits()
        .filter(member__isnull=False, paid_at=F("member__first_visit_at"), **bounds)
        .exclude(Exists(same_instant))
    )


def retained():
    """Another paid visit later than this one and at most 30 × 24 h after it."""
    limit = ExpressionWrapper(
        OuterRef("paid_at") + RETENTION, output_field=DateTimeField()
    )
    return Exists(
        paid_visits().filter(
            member_id=OuterRef("member_id"),
            member__isnull=False,
            paid_at__gt=OuterRef("paid_at"),
            paid_at__lte=limit,
        )
    )


def _between(field_name: str, day_from: date, day_to: date) -> dict:
    return {
        f"{field_name}__gte": day_start(day_from),
        f"{field_name}__lt": day_start(day_to + timedelta(days=1)),
    }
