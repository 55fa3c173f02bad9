"""The public landing page of a referral link (/r/<code>).

Anyone with the link may open it, so it shows only what the referrer shares
anyway: their first name and initial, their code, and the program's terms.
The language follows ``Accept-Language`` (LocaleMiddleware). A code that does
not work (mistyped, or its member blocked or erased) gets a friendly page with
a 404 status, never Django's error page.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_safe

from members.models import Member
from members.qr import qr_svg
from referrals import selectors
from referrals.models import ReferralCode
from referrals.services import friend_name, referral_code_normalize
from referrals.terms import friend_offer

TEMPLATE = "referrals/landing.html"


@require_safe
def landing(request, code: str):
    normalized = referral_code_normalize(code)
    row = (
        ReferralCode.objects.select_related("member").filter(code=normalized).first()
        if normalized
        else None
    )
    if row is None or row.member.status != Member.Status.ACTIVE:
        return render(request, TEMPLATE, {"not_found": True}, status=404)
    program = selectors.program()
    link = selectors.referral_link(row.code, request=request)
    return render(
        request,
        TEMPLATE,
        {
            "code": row.code,
            "referrer": friend_name(row.member),
            "active": program.is_active,
            "offer": friend_offer(program) if program.is_active else [],
            "link": link,
            "qr": qr_svg(link, scale=5) if program.is_active else "",
        },
    )
