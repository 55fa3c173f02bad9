"""Kept only for ``members.services.visits``, which still imports ``_field_error``.

Use ``core.errors.field_error``; delete this module once visits.py imports it.
"""

from core.errors import field_error as _field_error  # noqa: F401
