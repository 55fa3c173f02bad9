"""One-click unsubscribe links for marketing messages, one per channel.

A marketing message (``Message.Kind.MARKETING``) carries
``unsubscribe_url(member, channel)``. The link holds a signed token
(``django.core.signing``, salt ``regulars.unsubscribe``) with the member's id
and the channel, and nothing else:

- it never expires: a link in a year-old email must still work;
- a changed or truncated token fails its signature and is refused (400);
- it only ever turns a consent *off*, so a leaked link can do no harm beyond
  what its recipient could do in the app.

The page (``members.messaging.views.unsubscribe``, URL name ``unsubscribe``)
asks on GET and acts on POST: mail scanners that follow links change nothing.
The consent is turned off through ``members.services.members.member_update``
(``consents={channel: False}``), which stamps ``consent_<channel>_at`` and
emits ``member.updated``, exactly as any other change of consent.

Base URL: the project has no site-wide base URL setting. ``unsubscribe_url``
uses ``settings.REGULARS_PUBLIC_URL`` (e.g. ``"https://club.salon.example"``)
when it is set, else ``request.build_absolute_uri`` when a request is given,
else it returns the path alone (``/unsubscribe/<token>``), which the sender
must prefix with the site's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members import services
from members.messaging.services import CONSENT_CHANNELS
from members.models import Member

SALT = "regulars.unsubscribe"
URL_NAME = "unsubscribe"

# Whole sentences per channel, so each language can phrase them its own way.
QUESTIONS = {
    "sms": _("Stop SMS messages from %(business)s?"),
    "email": _("Stop email messages from %(business)s?"),
    "push": _("Stop push notifications from %(business)s?"),
}
CONFIRMATIONS = {
    "sms": _("You will no longer get marketing SMS messages from %(business)s."),
    "email": _("You will no longer get marketing emails from %(business)s."),
    "push": _("You will no longer get marketing push notifications from %(business)s."),
}


class InvalidUnsubscribeToken(ValueError):
    """The token is not one we signed (tampered, truncated) or names no channel."""


@dataclass(frozen=True)
class UnsubscribeRequest:
    member_id: int
    channel: str


def _signer() -> signing.Signer:
    # A plain Signer, not a TimestampSigner: no expiry, and a shorter token
    # (it also goes into SMS).
    return signing.Signer(salt=SALT)


def unsubscribe_token(member: Member, channel: str) -> str:
    """The signed token of ``member``'s unsubscribe link for ``channel``."""
    if channel not in CONSENT_CHANNELS:
        raise ValueError(f"no consent to withdraw for channel {channel!r}")
    if member.pk is None:
        raise ValueError("the member is not saved")
    return _signer().sign_object([member.pk, str(channel)])


def unsubscribe_token_read(token: str) -> UnsubscribeRequest:
    """The member id and channel of ``token``; ``InvalidUnsubscribeToken`` if bad."""
    try:
        payload = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidUnsubscribeToken(str(exc)) from exc
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not isinstance(payload[0], int)
        or isinstance(payload[0], bool)
        or payload[1] not in CONSENT_CHANNELS
    ):
        raise InvalidUnsubscribeToken("unexpected payload")
    return UnsubscribeRequest(member_id=payload[0], channel=payload[1])


@lru_cache(maxsize=8)
def _path_around(urlconf, prefix: str) -> tuple[str, str]:
    """The link's path before and after the token, reversed once (a campaign
    makes 100,000 links). A signed token is URL-safe base64 and colons, which
    ``reverse`` would leave as they are."""
    head, _token, tail = reverse(
        URL_NAME, urlconf=urlconf, kwargs={"token": "TOKEN"}
    ).rpartition("TOKEN")
    return head, tail


def unsubscribe_url(member: Member, channel: str, *, request=None) -> str:
    """The absolute link that turns off ``member``'s marketing on ``channel``.

    ``settings.REGULARS_PUBLIC_URL`` + path if set, else the request's absolute
    URI, else the path alone (see the module's docstring).
    """
    head, tail = _path_around(get_urlconf(), get_script_prefix())
    path = head + unsubscribe_token(member, channel) + tail
    base = (getattr(settings, "REGULARS_PUBLIC_URL", "") or "").rstrip("/")
    if base:
        return base + path
    if request is not None:
        return request.build_absolute_uri(path)
    return path


def business_name() -> str:
    """Who sends the messages: ``settings.REGULARS_BUSINESS_NAME``, else "Regulars"."""
    return getattr(settings, "REGULARS_BUSINESS_NAME", "") or gettext("Regulars")


def member_of(request: UnsubscribeRequest) -> Member | None:
    """The member the link is for, or None if they are gone or erased."""
    member = Member.objects.filter(pk=request.member_id).first()
    if member is None or member.status == Member.Status.ERASED:
        return None
    return member


def unsubscribe(request: UnsubscribeRequest) -> Member | None:
    """Turn off the member's consent for the channel; idempotent.

    Goes through ``member_update`` (which locks the row, stamps
    ``consent_<channel>_at`` and emits ``member.updated``) only when the
    consent is on, so repeating the link records nothing new. An erased or
    missing member is left alone (None is returned).
    """
    member = member_of(request)
    if member is None:
        return None
    if getattr(member, f"consent_{request.channel}"):
        member = services.member_update(
            member=member, consents={request.channel: False}
        )
    return member
