"""Text helpers the admin pages of every app share."""

from __future__ import annotations

from django.utils.html import format_html
from phonenumber_field.phonenumber import PhoneNumber
from phonenumbers import NumberParseException


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


MASK = "\u2022"  # •


def phone_masked(phone, empty: str = "") -> str:
    """A phone with all but its country and area code and its last two digits
    hidden: ``+7 916 •••-••-67``. An erased member's placeholder as it is."""
    if not phone:
        return empty
    if not getattr(phone, "is_valid", lambda: False)():
        return str(phone)
    text = phone.as_international
    digits = sum(ch.isdigit() for ch in text)
    keep_head = len(str(phone.country_code)) + 3
    seen, out = 0, []
    for ch in text:
        if ch.isdigit():
            seen += 1
            if keep_head < seen <= digits - 2:
                ch = MASK
        out.append(ch)
    return "".join(out).replace(" ", "\u00a0")


def email_masked(email: str) -> str:
    """``a•••@example.com``: enough to tell two members apart, not to write."""
    if not email or "@" not in email:
        return email or ""
    local, domain = email.split("@", 1)
    return f"{local[:1]}{MASK * 3}@{domain}"


def recipient_masked(recipient: str) -> str:
    """A message's recipient masked as its kind: a phone, an email, a device."""
    if not recipient:
        return ""
    if "@" in recipient:
        return email_masked(recipient)
    if recipient.startswith("+"):
        try:
            return phone_masked(PhoneNumber.from_string(recipient))
        except NumberParseException:
            pass  # not a phone after all: masked plainly below
    return f"{recipient[:4]}{MASK * 3}"


def recipient_text(recipient: str) -> str:
    """A message's recipient as staff read it: a phone in international format
    on one line, anything else (an email, a device) as it is."""
    if recipient.startswith("+"):
        try:
            phone = PhoneNumber.from_string(recipient)
        except NumberParseException:
            return recipient
        if phone.is_valid():
            return phone_nowrap(phone)
    return recipient


def nowrap(text: str):
    """Text for a table cell that must stay on one line (a phone, a code)."""
    return format_html('<span style="white-space:nowrap">{}</span>', text)
