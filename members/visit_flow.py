"""What happens after a visit is recorded, cancelled or refunded — in one place.

The members app records visits; the apps above it (rewards, then referrals,
campaigns…) react. Their reactions are listed, in order, in the setting
``REGULARS_VISIT_REACTIONS``: no signals, no app patching another. The visit
services call ``visit_recorded`` / ``visit_partially_refunded`` /
``visit_reversed`` inside their own transaction, with the member row locked, so
a reaction that fails rolls the visit back with it. Reversals (partial ones
too) run in the opposite order, so the app that reacted last undoes first.

The reactions are about members (points, tiers, referrals, promotions): an
anonymous visit (no member: a sale the POS recorded for revenue and the
average check) runs none of them, recorded, refunded or cancelled — it earned
nothing, so there is nothing to undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from members.models import Visit, VisitRefund


@dataclass(frozen=True)
class VisitRecorded:
    visit: Visit
    actor: Any = None
    # What the caller knew beyond the visit itself, e.g. the checkout quote
    # (``{"quote": Quote}``): reactions read what they understand. Results go
    # back as return values (``visit_recorded``), never through the context.
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VisitReversed:
    visit: Visit  # already in its new status (cancelled or refunded)
    actor: Any = None


@dataclass(frozen=True)
class VisitPartiallyRefunded:
    """Some lines (or units of them) of a still-paid visit were refunded.

    ``visit`` already carries the new ``amount_refunded`` and its lines the new
    ``refunded_quantity``; ``refund`` is the ``VisitRefund`` just written. If
    this refund returned the last unit, ``visit_reversed`` follows (the visit
    becomes refunded) and undoes only what partial refunds left.
    """

    visit: Visit
    refund: VisitRefund
    actor: Any = None


class VisitReaction(Protocol):
    """``visit_partially_refunded(event)`` is optional: called where defined.

    ``visit_recorded`` may return a typed result of its own (what the visit
    earned, say); the caller finds it in ``VisitRecordResult.reactions``.
    """

    def visit_recorded(self, event: VisitRecorded) -> object | None: ...

    def visit_reversed(self, event: VisitReversed) -> None: ...


def reactions() -> tuple[VisitReaction, ...]:
    return _load(tuple(getattr(settings, "REGULARS_VISIT_REACTIONS", ())))


@cache
def _load(paths: tuple[str, ...]) -> tuple[VisitReaction, ...]:
    return tuple(import_string(path)() for path in paths)


def visit_recorded(event: VisitRecorded) -> tuple[object, ...]:
    """Run every reaction in order; their non-None results, in order.

    None for an anonymous visit (no results).
    """
    if event.visit.member_id is None:
        return ()
    results = (reaction.visit_recorded(event) for reaction in reactions())
    return tuple(r for r in results if r is not None)


def visit_reversed(event: VisitReversed) -> None:
    if event.visit.member_id is None:
        return
    for reaction in reversed(reactions()):
        reaction.visit_reversed(event)


def visit_partially_refunded(event: VisitPartiallyRefunded) -> None:
    if event.visit.member_id is None:
        return
    for reaction in reversed(reactions()):
        react = getattr(reaction, "visit_partially_refunded", None)
        if react is not None:
            react(event)
