"""The kinds of message the apps send, by template key, as staff read them.

A template's key (``referral_signed_up``) is how code names it; the admin shows
its label. Each app lists its own in a ``MESSAGE_TYPES`` dict, gathered from
``REGULARS_MESSAGE_TYPES`` (dotted paths), so members needs no upward import.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

MESSAGE_TYPES = {
    "otp_code": _("Sign-in code"),
}


@functools.cache
def _all(paths: tuple[str, ...]) -> dict:
    merged: dict = {}
    for path in paths:
        merged.update(import_string(path))
    return merged


def message_types() -> dict:
    """Every app's message types: {template key: label}."""
    return _all(tuple(getattr(settings, "REGULARS_MESSAGE_TYPES", ())))


def message_type_label(key: str) -> str:
    """The label of a template key; an unknown key as words, never as code."""
    label = message_types().get(key)
    return str(label) if label else key.replace("_", " ").capitalize()
