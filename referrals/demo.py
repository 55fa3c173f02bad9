"""Demo referrals: the most loyal demo members invite friends, in every state.

Everything goes through the services (sign-up with a code, checkout, cancel,
the app's sign-in), so the demo shows exactly what real use produces: rewards
in the ledger, notices in the outbox, holds in the review queue. Idempotent:
the friends' phones are a reserved demo range, and a second run adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from members import access
from members import services as member_services
from members.demo import FIRST_NAMES_F, FIRST_NAMES_M, LAST_NAMES, demo_name
from members.member_flow import Channel
from members.models import Location, Member, Service, Visit
from members.services import VisitLineInput
from referrals.models import Referral
from referrals.services import referral_code_for, referral_register
from rewards.services import checkout_commit

PHONE_PREFIX = "+7999555"
# What happens to each friend a referrer invites, in order. The fourth sign-up
# within the hour is held anyway (REFERRAL_HOLD_SIGNUPS): it is the held one.
STORY = ["rewarded", "annulled", "registered", "held", "not_new"]


@dataclass
class DemoReferralStats:
    referrals: int = 0
    skipped: bool = False


def referrals_demo_ensure(
    *, referrers: int = 8, russian: bool = False, progress: Callable | None = None
) -> DemoReferralStats:
    stats = DemoReferralStats()
    if Referral.objects.filter(referee__phone__startswith=PHONE_PREFIX).exists():
        stats.skipped = True
        return stats
    location = Location.objects.filter(is_active=True).order_by("pk").first()
    service = (
        Service.objects.filter(is_active=True, excluded_from_discounts=False)
        .order_by("pk")
        .first()
    )
    if location is None or service is None:
        return stats
    # The richest members: the demo's app member (demo_api_access) is among them.
    inviters = list(
        Member.objects.filter(
            status=Member.Status.ACTIVE, wallet__isnull=False
        ).order_by("-wallet__available", "pk")[:referrers]
    )
    regulars = list(
        Member.objects.filter(status=Member.Status.ACTIVE, visits_count__gt=0)
        .exclude(pk__in=[m.pk for m in inviters])
        .exclude(referral__isnull=False)
        .order_by("pk")[: len(inviters)]
    )
    n = 0
    for i, referrer in enumerate(inviters):
        code = referral_code_for(member=referrer).code
        for story in STORY:
            n += 1
            with transaction.atomic():
                if story == "not_new":
                    if i < len(regulars):
                        referral_register(
                            referee=regulars[i],
                            code=code,
                            channel=Channel.APP,
                            strict=False,
                        )
                        stats.referrals += 1
                    if progress:
                        progress(1)
                    continue
                friend = _friend(n, code, story, referrer, russian)
                stats.referrals += 1
                if story in ("rewarded", "annulled", "held"):
                    result = checkout_commit(
                        member=friend,
                        location=location,
                        lines=[VisitLineInput(service=service)],
                        external_id=f"demo-referral-{n}",
                        source=Visit.Source.ADMIN,
                    )
                    if story == "annulled":
                        member_services.visit_cancel(
                            visit=result.visit, reason="Demo: booked by mistake"
                        )
            if progress:
                progress(1)
    return stats


def _friend(n: int, code: str, story: str, referrer: Member, russian: bool) -> Member:
    # Two friends in three are women, like the demo's clientele (of friends
    # 1..n, n // 3 are men); each takes the next first name of their list, and
    # the surname agrees with it in gender (Olga Petrova, Ivan Petrov).
    female = n % 3 != 0
    names, nth = (FIRST_NAMES_F, n - n // 3) if female else (FIRST_NAMES_M, n // 3)
    first, last = demo_name(
        names[(nth - 1) % len(names)],
        LAST_NAMES[n * 5 % len(LAST_NAMES)],
        female=female,
        russian=russian,
    )
    phone = f"{PHONE_PREFIX}{n:04d}"
    if story == "held":
        # Signs up in the app on a phone the referrer once signed in on.
        device = f"demo-device-{referrer.pk}"
        token, _raw = access.token_issue(member=referrer, device_id=device)
        access.token_revoke(token=token)
        return member_services.member_register(
            phone=phone,
            first_name=first,
            last_name=last,
            referral_code=code,
            channel=Channel.APP,
            device_id=device,
        )
    channel = Channel.POS if n % 2 else Channel.APP
    return member_services.member_register(
        phone=phone,
        first_name=first,
        last_name=last,
        referral_code=code,
        channel=channel,
    )
