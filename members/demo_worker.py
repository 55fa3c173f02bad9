"""Entry points of seed_demo's worker processes.

Kept apart from ``members.demo`` because a spawned process imports this module
before Django is set up: nothing here may import models at module level.
"""

from __future__ import annotations


def init(database_name: str) -> None:
    """Set Django up in a fresh worker process, on the parent's database."""
    import django

    django.setup()
    from django.db import connections

    # The parent may write to another database than the settings name one
    # (the test runner's test_ database).
    connections["default"].settings_dict["NAME"] = database_name


def chunk_create(gen, indexes: list[int]) -> tuple[int, int]:
    """Generate and write one chunk of demo members; return (members, visits)."""
    from django.db import connections

    from members.demo import _chunk_create

    try:
        return _chunk_create(gen, indexes)
    finally:
        connections.close_all()
