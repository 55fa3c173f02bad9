"""Reads of the referrals app shared by the API, the admin and the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from members.cards import card_code_normalize
from members.models import Member
from referrals.models import Referral, ReferralCode, ReferralProgram
from rewards.selectors import day_start

Status = Referral.Status


def program() -> ReferralProgram:
    """The program's terms, created with the shipped defaults if missing."""
    obj = ReferralProgram.objects.filter(pk=1).first()
    if obj is None:
        obj, _created = ReferralProgram.objects.get_or_create(pk=1)
    return obj


CODE_MAX_LENGTH = 16


def referral_code_normalize(code: str) -> str:
    """What people type or links carry → the stored form ("ab-c 12" → "ABC12")."""
    return card_code_normalize(code)[:CODE_MAX_LENGTH]


def referrer_by_code(code: str) -> Member | None:
    """The active member whose referral code ``code`` is (any case, dashes
    and spaces ignored), or None."""
    normalized = referral_code_normalize(code)
    if not normalized:
        return None
    row = ReferralCode.objects.select_related("member").filter(code=normalized).first()
    if row is None or row.member.status != Member.Status.ACTIVE:
        return None
    return row.member


def month_bounds(at: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month of ``at`` in the business time zone."""
    day = timezone.localdate(at).replace(day=1)
    following = (
        day.replace(year=day.year + 1, month=1)
        if day.month == 12
        else day.replace(month=day.month + 1)
    )
    return day_start(day), day_start(following)


def rewarded_in_month(*, referrer_id: int, at: datetime) -> int:
    """Referrals of ``referrer_id`` rewarded in the calendar month of ``at``
    (annulled ones no longer count: their rewards were taken back)."""
    start, end = month_bounds(at)
    return Referral.objects.filter(
        referrer_id=referrer_id,
        status=Status.REWARDED,
        rewarded_at__gte=start,
        rewarded_at__lt=end,
    ).count()


def referral_link(code: str, *, request=None) -> str:
    """The shareable link of ``code``: REFERRAL_LINK_TEMPLATE, else the landing page."""
    template = settings.REFERRAL_LINK_TEMPLATE
    if template:
        return template.replace("{code}", code)
    path = reverse("referral-landing", kwargs={"code": code})
    return request.build_absolute_uri(path) if request is not None else path


@dataclass(frozen=True)
class ReferralStats:
    invited: int
    rewarded: int
    points_earned: int  # by the referrer, net of annulled rewards
    rewarded_this_month: int
    cap: int

    @property
    def cap_remaining(self) -> int:
        return max(0, self.cap - self.rewarded_this_month)


def referrer_stats(*, member: Member, at: datetime | None = None) -> ReferralStats:
    """What a referrer has brought: one aggregate query (plus the program row)."""
    at = at or timezone.now()
    start, end = month_bounds(at)
    agg = Referral.objects.filter(referrer=member).aggregate(
        invited=Count("id"),
        rewarded=Count("id", filter=Q(status=Status.REWARDED)),
        points=Sum("referrer_points", filter=Q(status=Status.REWARDED)),
        this_month=Count(
            "id",
            filter=Q(
                status=Status.REWARDED, rewarded_at__gte=start, rewarded_at__lt=end
            ),
        ),
    )
    return ReferralStats(
        invited=agg["invited"],
        rewarded=agg["rewarded"],
        points_earned=agg["points"] or 0,
        rewarded_this_month=agg["this_month"],
        cap=program().monthly_cap,
    )


def referrals_made(*, member: Member) -> QuerySet[Referral]:
    """The referrer's invites, newest first, with the friend for display."""
    return (
        Referral.objects.filter(referrer=member)
        .select_related("referee")
        .order_by("-registered_at", "-id")
    )


def referrer_summary() -> QuerySet[Member]:
    """Members who referred anyone, with counts per status and points earned."""
    made = "referrals_made"
    return Member.objects.filter(referrals_made__isnull=False).annotate(
        ref_total=Count(made, distinct=True),
        ref_registered=Count(
            made, filter=Q(referrals_made__status=Status.REGISTERED), distinct=True
        ),
        ref_rewarded=Count(
            made, filter=Q(referrals_made__status=Status.REWARDED), distinct=True
        ),
        ref_held=Count(
            made, filter=Q(referrals_made__status=Status.HELD), distinct=True
        ),
        ref_annulled=Count(
            made, filter=Q(referrals_made__status=Status.ANNULLED), distinct=True
        ),
        ref_rejected=Count(
            made, filter=Q(referrals_made__status=Status.REJECTED), distinct=True
        ),
        ref_points=Sum(
            "referrals_made__referrer_points",
            filter=Q(referrals_made__status=Status.REWARDED),
        ),
    )
