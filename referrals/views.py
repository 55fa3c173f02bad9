"""The public landing page of a referral link (/r/<code>)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from referrals import selectors
from referrals.models import ReferralCode
from referrals.services import friend_name, referral_code_normalize


def landing(request, code: str):
    row = (
        ReferralCode.objects.select_related("member")
        .filter(code=referral_code_normalize(code))
        .first()
    )
    if row is None or row.member.status != row.member.Status.ACTIVE:
        raise Http404
    return render(
        request,
        "referrals/landing.html",
        {
            "code": row.code,
            "referrer": friend_name(row.member),
            "program": selectors.program(),
        },
    )
