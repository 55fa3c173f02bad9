"""SQL pieces that differ between PostgreSQL and SQLite.

The hash chain is computed in Python for single postings and in SQL for the
nightly batch postings; both must give the same digest. PostgreSQL has
``sha256()``; on SQLite we register a function of the same meaning.
"""

from __future__ import annotations

import hashlib

from django.db.backends.signals import connection_created


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sqlite_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "regulars_sha256", 1, sha256_hex, deterministic=True
        )


def install() -> None:
    connection_created.connect(_sqlite_functions, dispatch_uid="regulars_sha256")


def sha256_sql(vendor: str, expr: str) -> str:
    """SQL for the hex SHA-256 of the text expression ``expr``."""
    if vendor == "postgresql":
        return f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"
    return f"regulars_sha256({expr})"


def hash_payload_sql(
    *, prev, member, seq, kind, amount, debt_change, balance_after, debt_after, key
) -> str:
    """The SQL twin of ``rewards.services.ledger.hash_payload`` (text, '|'-joined)."""
    parts = [
        prev,
        member,
        seq,
        kind,
        amount,
        debt_change,
        balance_after,
        debt_after,
        key,
    ]
    return " || '|' || ".join(f"CAST({p} AS TEXT)" for p in parts)
