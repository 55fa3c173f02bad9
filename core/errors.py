"""The one way services refuse input: a ``ValidationError`` that keeps its code."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def field_error(field: str | None, message, code: str) -> ValidationError:
    """A ValidationError on ``field`` (or a general one) that keeps its ``code``.

    ``ValidationError({field: message}, code=...)`` drops the code: Django keeps
    codes only on the errors inside the dict. Callers (and the API) tell refusals
    apart by code, so build the inner error with it.
    """
    error = ValidationError(message, code=code)
    if field is None:
        return error
    return ValidationError({field: error})
