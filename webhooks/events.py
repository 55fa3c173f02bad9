"""The event types an endpoint may subscribe to, with the label staff read.

A registry rather than a closed ``TextChoices``: an app that emits a new kind
of event adds it with ``event_type_register`` (at import time of its
``webhooks`` hook-in, e.g. in ``AppConfig.ready``), and the endpoint form
offers it. ``ping`` is not subscribable: the admin's "send a test ping" goes to
the chosen endpoints whatever they subscribe to.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PING = "ping"

EVENT_TYPES: dict[str, str | Promise] = {
    "member.created": _("Member created"),
    "member.updated": _("Member updated"),
    "member.erased": _("Member erased"),
    "visit.recorded": _("Visit recorded"),
    "visit.cancelled": _("Visit cancelled"),
    "visit.refunded": _("Visit refunded (in full or in part)"),
    "points.changed": _("Points changed"),
    "tier.changed": _("Tier changed"),
    "voucher.issued": _("Voucher issued"),
    "voucher.used": _("Voucher used"),
    "referral.rewarded": _("Referral rewarded"),
}


def event_type_register(name: str, label: str | Promise) -> None:
    """Make ``name`` an event type endpoints can subscribe to."""
    EVENT_TYPES[name] = label


def event_type_choices() -> list[tuple[str, str | Promise]]:
    return list(EVENT_TYPES.items())
