"""What happens when a member signs up, signs in, or is erased — for the apps above.

Like ``visit_flow``: the members app announces, the apps listed in
``REGULARS_MEMBER_REACTIONS`` react (referrals registers a friend's code;
campaigns may greet). The services call these inside their own transaction,
so a reaction that raises ``ValidationError`` (say, a referral code that does
not exist, typed at the till) undoes the sign-up with a clear error. A
reaction's methods are optional: each is called where defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from members.models import Member


class Channel:
    APP = "app"
    POS = "pos"
    ADMIN = "admin"


@dataclass(frozen=True)
class MemberRegistered:
    member: Member
    channel: str = Channel.ADMIN
    referral_code: str = ""
    device_id: str = ""
    ip: str | None = None
    actor: Any = None
    # Reactions report here what they did ({"referral": {...}}), for the caller
    # to show (the app's sign-in response).
    outcome: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MemberSignedIn:
    """An existing member signed in to the app (a new one is ``MemberRegistered``)."""

    member: Member
    referral_code: str = ""
    device_id: str = ""
    ip: str | None = None
    outcome: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MemberErased:
    member: Member
    actor: Any = None


def reactions() -> tuple:
    return _load(tuple(getattr(settings, "REGULARS_MEMBER_REACTIONS", ())))


@cache
def _load(paths: tuple[str, ...]) -> tuple:
    return tuple(import_string(path)() for path in paths)


def _announce(method: str, event) -> None:
    for reaction in reactions():
        react = getattr(reaction, method, None)
        if react is not None:
            react(event)


def referral_code_check(code: str) -> None:
    """Raise ``ValidationError`` if an app above says ``code`` cannot be used.

    Forms call it to show a wrong code as a form error before saving.
    """
    for reaction in reactions():
        check = getattr(reaction, "referral_code_check", None)
        if check is not None:
            check(code)


def member_registered(event: MemberRegistered) -> None:
    _announce("member_registered", event)


def member_signed_in(event: MemberSignedIn) -> None:
    _announce("member_signed_in", event)


def member_erased(event: MemberErased) -> None:
    _announce("member_erased", event)
