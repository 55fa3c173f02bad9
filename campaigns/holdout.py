"""Deterministic holdout (control-group) assignment for campaigns.

A campaign keeps a random *salt*. A member's *bucket* is a number from 0 to
``BUCKETS - 1`` derived from the MD5 of ``"<salt>:<member id>"``::

    bucket = int(md5(f"{salt}:{member_id}").hexdigest()[:8], 16) % 10_000

The first 8 hex digits are the first 32 bits of the digest read as an
*unsigned* integer (0 … 2**32 − 1), so a bucket is never negative. A member is
in the control group when ``bucket < percent × 100``: 10 % → buckets 0 … 999.

Why a hash and not ``random()``: the same member lands in the same group on
every run (re-sending a journey step, recomputing results a month later), two
campaigns with different salts split members independently of each other, and
the split can be computed set-based inside the database for 100,000+ members
(``INSERT … SELECT … WHERE <bucket_sql> < 1000``) with exactly the answer the
Python function gives. 2**32 is not a multiple of 10,000, so buckets below
7296 are one part in ~430,000 more likely than the others: irrelevant here.

PostgreSQL computes the same number with ``md5()`` and a bit-string cast
(``bit(32)::bigint`` reads the 32 bits unsigned, unlike ``bit(32)::int``, so
``mod(…, 10000)`` is never negative).
SQLite has no MD5, so :func:`sqlite_register` adds ``regulars_bucket(salt, id)``
to a connection; wire it to ``connection_created`` (see :func:`install`).
"""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

BUCKETS = 10_000
MAX_PERCENT = 50
SQLITE_FUNCTION = "regulars_bucket"


def new_salt() -> str:
    """A fresh campaign salt: 16 random hex characters (64 bits)."""
    return secrets.token_hex(8)


def bucket(salt: str, member_id: int) -> int:
    """The member's bucket, 0 … ``BUCKETS - 1``, for the campaign's ``salt``."""
    digest = hashlib.md5(f"{salt}:{member_id}".encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % BUCKETS


def threshold(percent: Decimal | int) -> int:
    """How many buckets (counted from 0) form a control group of ``percent`` %.

    ``percent`` may have up to two decimal places (12.5 → 1250 buckets); it must
    lie between 0 and ``MAX_PERCENT``: a holdout larger than the treated group
    would waste most of the campaign.
    """
    if isinstance(percent, float):
        raise TypeError("percent must be Decimal or int, not float")
    value = Decimal(percent)
    if not 0 <= value <= MAX_PERCENT:
        raise ValueError(f"control percent must be 0…{MAX_PERCENT}, got {percent}")
    buckets = value * (BUCKETS // 100)
    if buckets != buckets.to_integral_value():
        raise ValueError(f"control percent has more than 2 decimal places: {percent}")
    return int(buckets)


def in_control(salt: str, member_id: int, percent: Decimal | int) -> bool:
    """Whether the member belongs to the campaign's control (holdout) group."""
    return bucket(salt, member_id) < threshold(percent)


def bucket_sql(salt_sql: str, member_id_sql: str, vendor: str) -> str:
    """A SQL expression giving :func:`bucket` for SQL expressions ``salt_sql``
    (text: a column, a literal or a ``%s`` placeholder) and ``member_id_sql``
    (an integer column).

    ``vendor`` is ``connection.vendor``. On SQLite the connection must have
    :func:`sqlite_register` applied. Compare the result with :func:`threshold`::

        f"{bucket_sql('%s', 'm.id', connection.vendor)} < %s", [salt, threshold(p)]
    """
    if vendor == "postgresql":
        # The casts keep a %s placeholder from being an untyped "unknown" value
        # (ambiguous ||) under server-side binding; mod() rather than the %
        # operator, which would clash with %s placeholders (or need %%).
        return (
            f"mod(('x' || substr(md5(CAST({salt_sql} AS text) || ':' "
            f"|| CAST({member_id_sql} AS text)), 1, 8))::bit(32)::bigint, {BUCKETS})"
        )
    if vendor == "sqlite":
        return f"{SQLITE_FUNCTION}({salt_sql}, {member_id_sql})"
    raise NotImplementedError(f"no bucket SQL for database vendor {vendor!r}")


def _sqlite_bucket(salt, member_id):
    """The SQLite twin of :func:`bucket`; NULL in, NULL out like SQL functions."""
    if salt is None or member_id is None:
        return None
    return bucket(str(salt), int(member_id))


def sqlite_register(connection) -> None:
    """Add ``regulars_bucket(salt, member_id)`` to an open Django SQLite
    connection; does nothing on other databases."""
    if connection.vendor != "sqlite" or connection.connection is None:
        return
    connection.connection.create_function(
        SQLITE_FUNCTION, 2, _sqlite_bucket, deterministic=True
    )


def _on_connection_created(sender, connection, **kwargs) -> None:
    sqlite_register(connection)


def install() -> None:
    """Register :func:`sqlite_register` on every new database connection.

    Call once from ``CampaignsConfig.ready()``; idempotent (``dispatch_uid``).
    """
    from django.db.backends.signals import connection_created

    connection_created.connect(
        _on_connection_created, dispatch_uid="regulars_holdout_bucket"
    )
