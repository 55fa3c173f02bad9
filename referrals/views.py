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

from members.qr import qr_svg
from referrals import selectors
from referrals.services import friend_name
from referrals.terms import friend_offer

TEMPLATE = "referrals/landing.html"


@require_safe
def landing(request, code: str):
    referrer = selectors.referrer_by_code(code)
    if referrer is None:
        return render(request, TEMPLATE, {"not_found": True}, status=404)
    code = selectors.referral_code_normalize(code)
    program = selectors.program()
    link = selectors.referral_link(code, request=request)
    return render(
        request,
        TEMPLATE,
        {
            "code": code,
            "referrer": friend_name(referrer),
            "active": program.is_active,
            "offer": friend_offer(program) if program.is_active else [],
            "link": link,
            "qr": qr_svg(link, scale=5) if program.is_active else "",
        },
    )
