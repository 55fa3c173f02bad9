"""Promo codes cannot be guessed: wrong codes are counted per member and per
caller (a POS key, ``core.callers``), and after ``CAMPAIGNS_CODE_GUESSES`` in
an hour every code for that member, or from that key, is refused
(``promo_code_locked``) until the hour is out. A till trying codes across many
members locks its key; codes tried on one member from many tills lock the
member. The counts live in the cache (Redis in production), a key per member
or caller and hour."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from campaigns.codes import code_error
from core.callers import caller

T = TypeVar("T")
WINDOW = 3600  # seconds


def _keys(member_id: int) -> list[str]:
    hour = int(time.time() // WINDOW)
    keys = [f"campaigns:code-guesses:member:{member_id}:{hour}"]
    who = caller()
    if who:
        keys.append(f"campaigns:code-guesses:{who}:{hour}")
    return keys


def _codes(exc: ValidationError) -> set[str]:
    if hasattr(exc, "error_dict"):
        return {e.code for errors in exc.error_dict.values() for e in errors}
    return {e.code for e in exc.error_list}


def guarded(member_id: int, read: Callable[[], T]) -> T:
    """``read()`` (the codes' lookup), refused while the member or the caller
    is locked out; a code that does not exist counts against both."""
    limit = settings.CAMPAIGNS_CODE_GUESSES
    keys = _keys(member_id)
    if limit and any((n or 0) >= limit for n in cache.get_many(keys).values()):
        raise code_error(
            "promo_code_locked",
            _("Too many wrong promo codes: try again in an hour."),
        )
    try:
        return read()
    except ValidationError as exc:
        if "promo_code_not_found" in _codes(exc):
            for key in keys:
                cache.add(key, 0, WINDOW)
                try:
                    cache.incr(key)
                except ValueError:  # the hour turned meanwhile
                    cache.set(key, 1, WINDOW)
        raise
