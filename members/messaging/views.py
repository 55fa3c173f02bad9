"""The public unsubscribe page (/unsubscribe/<token>); no login.

GET asks, POST acts: mail scanners and link previews follow links, so a GET
never changes anything. The form is an ordinary CSRF-protected one (the GET
page sets the cookie). The page speaks the member's language (``language``,
else the site's); a bad token gets a 400 page in the browser's language.
An erased (or deleted) member gets the same "done" page as anyone else, so
the page reveals nothing about them.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from members.messaging import unsubscribe as unsub

TEMPLATE = "messaging/unsubscribe.html"


def _render(request, language: str, context: dict, status: int = 200):
    with translation.override(language):
        business = unsub.business_name()
        channel = context.get("channel")
        if channel:
            context = {
                **context,
                "question": unsub.QUESTIONS[channel] % {"business": business},
                "confirmation": unsub.CONFIRMATIONS[channel] % {"business": business},
            }
        response = render(
            request, TEMPLATE, {**context, "business": business}, status=status
        )
    response["Content-Language"] = language
    # The token is in the URL: keep it out of search engines and referrers.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    try:
        wanted = unsub.unsubscribe_token_read(token)
    except unsub.InvalidUnsubscribeToken:
        return _render(
            request, translation.get_language(), {"invalid": True}, status=400
        )

    member = unsub.member_of(wanted)
    language = (member.language if member else "") or settings.LANGUAGE_CODE
    if request.method == "POST":
        unsub.unsubscribe(wanted)
        done = True
    else:
        # Nothing to ask a member who is gone or already off: say it is done.
        done = member is None or not getattr(member, f"consent_{wanted.channel}")
    return _render(request, language, {"channel": wanted.channel, "done": done})
