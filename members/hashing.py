"""Salted hashes of what must be recognised but never read back.

HMAC-SHA256 with ``PHONE_HASH_SALT``. The salt must never change once set:
every stored hash would stop matching.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def salted_hash(text: str) -> str:
    return hmac.new(
        settings.PHONE_HASH_SALT.encode(), text.encode(), hashlib.sha256
    ).hexdigest()


def e164_hash(e164: str) -> str:
    """The hash of a phone already in E.164 (``privacy.phone_hash`` normalises)."""
    return salted_hash(e164)


def card_token_hash(token: str) -> str:
    """The hash of a payment card token a POS sent; blank for no token."""
    token = (token or "").strip()
    return salted_hash(f"card:{token}") if token else ""
