"""Text helpers the admin pages of every app share."""

from __future__ import annotations


def printable(term: str) -> str:
    """A search term without control characters, trimmed.

    A NUL from a barcode scanner makes PostgreSQL refuse the query, and no
    phone, name or code holds a control character.
    """
    return "".join(ch for ch in term if ch.isprintable()).strip()


def phone_nowrap(phone, empty: str = "") -> str:
    """A phone for a table cell: international format with non-breaking spaces
    (a number should never wrap over lines); an erased member's placeholder
    as it is; ``empty`` for none."""
    if not phone:
        return empty
    if not phone.is_valid():
        return str(phone)
    return phone.as_international.replace(" ", "\u00a0")
