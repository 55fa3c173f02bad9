"""Helpers shared by the member, visit and refund services."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def _field_error(field: str, message, code: str) -> ValidationError:
    """A ValidationError on ``field`` that keeps its ``code``.

    ``ValidationError({field: message}, code=...)`` drops the code: Django keeps
    codes only on the errors inside the dict. Callers (and the API) tell refusals
    apart by code, so build the inner error with it.
    """
    return ValidationError({field: ValidationError(message, code=code)})
