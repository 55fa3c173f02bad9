"""Phones of an import normalised fast: millions of rows, the app's rules.

``members.services.phone_normalize`` (libphonenumber through
phonenumber_field) costs ~27 µs a phone: half a minute of a million-client
import. Most phones of a file from Russia or Kazakhstan are a national number
of ten digits, written with ``+7``, ``7``, ``8`` or nothing in front, and
spaces, brackets or dashes between: for those the parsing is done here and
only libphonenumber's validity check is run (~6 µs). Every other phone, and
every phone the check refuses, goes the app's own way, so the result is
always what ``phone_normalize`` gives (pinned by a test).
"""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings

from members.services import phone_normalize

_SEPARATORS = re.compile(r"[\s()\-.]+")
_NATIONAL = re.compile(r"^(?:\+7|7|8)?(\d{10})$")
_CALLING_CODE_7 = {"RU", "KZ"}


def phone_fast(raw: str) -> str:
    """``raw`` in E.164, as ``phone_normalize`` gives it (which raises
    ``ValidationError`` for a phone that is not valid)."""
    if settings.PHONENUMBER_DEFAULT_REGION in _CALLING_CODE_7:
        match = _NATIONAL.match(_SEPARATORS.sub("", raw))
        if match:
            national = match.group(1)
            number = phonenumbers.PhoneNumber(
                country_code=7, national_number=int(national)
            )
            if national[0] != "0" and phonenumbers.is_valid_number(number):
                return f"+7{national}"
    return phone_normalize(raw)
