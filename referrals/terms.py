"""The program's terms in words, in the request's language: what the landing
page tells a friend and what the app shows a referrer.

Whole sentences are translated, never glued from pieces, so a translation can
put the amount, the minimum and the days where its grammar wants them.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.money import money_text
from referrals.models import ReferralProgram

Kind = ReferralProgram.RewardKind


def number_text(value: Decimal) -> str:
    """A reward value without trailing zeros: 500.00 → "500", 7.50 → "7.5"."""
    return format(value.normalize(), "f")


def points_text(points: int) -> str:
    return ngettext("%(n)s point", "%(n)s points", points) % {"n": points}


def reward_text(kind: str, value: Decimal) -> str:
    """One side's reward, short: "500 points", "10% of the first paid visit
    in points"."""
    if kind == Kind.PERCENT:
        return _("%(percent)s%% of the first paid visit in points") % {
            "percent": number_text(value)
        }
    return points_text(int(value))


def friend_offer(program: ReferralProgram) -> list[str]:
    """What a friend gets, as sentences for the landing page (empty when the
    welcome reward is nothing)."""
    value = program.friend_reward_value
    if not value:
        return []
    minimum = program.min_first_visit_amount
    params = {"amount": money_text(minimum), "percent": number_text(value)}
    if program.friend_reward_kind == Kind.PERCENT:
        if minimum:
            first = _(
                "You get %(percent)s%% of your first paid visit back in points, "
                "if the visit is at least %(amount)s."
            )
        else:
            first = _("You get %(percent)s%% of your first paid visit back in points.")
    else:
        params["points"] = points_text(int(value))
        if minimum:
            first = _(
                "You get %(points)s after your first paid visit of at least %(amount)s."
            )
        else:
            first = _("You get %(points)s after your first paid visit.")
    days = program.bonus_validity_days
    sentences = [
        first % params,
        ngettext(
            "The points are valid for %(days)s day.",
            "The points are valid for %(days)s days.",
            days,
        )
        % {"days": days},
    ]
    if not program.stacks_with_first_visit:
        sentences.append(
            _(
                "If your first visit already has a welcome discount, you get "
                "the better of the two."
            )
        )
    return sentences
