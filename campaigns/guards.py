"""Promo codes cannot be guessed: wrong codes are counted per member, and
after ``CAMPAIGNS_CODE_GUESSES`` in an hour the member's codes are refused
(``promo_code_locked``) until the hour is out — whichever till, app or key
asks. The count lives in the cache (Redis in production), one key per member
and hour."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from campaigns.codes import code_error

T = TypeVar("T")
WINDOW = 3600  # seconds


def _key(member_id: int) -> str:
    return f"campaigns:code-guesses:{member_id}:{int(time.time() // WINDOW)}"


def guarded(member_id: int, read: Callable[[], T]) -> T:
    """``read()`` (the codes' lookup), refused while the member is locked out;
    a code that does not exist counts against them."""
    limit = settings.CAMPAIGNS_CODE_GUESSES
    key = _key(member_id)
    if limit and (cache.get(key) or 0) >= limit:
        raise code_error(
            "promo_code_locked",
            _("Too many wrong promo codes: try again in an hour."),
        )
    try:
        return read()
    except ValidationError as exc:
        codes = (
            {e.code for errors in exc.error_dict.values() for e in errors}
            if hasattr(exc, "error_dict")
            else {e.code for e in exc.error_list}
        )
        if "promo_code_not_found" in codes:
            cache.add(key, 0, WINDOW)
            try:
                cache.incr(key)
            except ValueError:  # the hour turned meanwhile
                cache.set(key, 1, WINDOW)
        raise
