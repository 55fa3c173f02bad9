"""The rows every visit updates stay free of indexes on the columns it changes.

On PostgreSQL an UPDATE that changes no indexed column is heap-only (HOT): it
writes no index entry. The member's visit stats and the wallet's balances are
rewritten by every checkout; an index on one of them (an innocent-looking
``db_index=True`` for an admin sort) would make each visit write a new entry
into every index of the table — for the member, four trigram GIN indexes among
them (~16× the WAL, measured). These tests name the columns so that such an
index is a conscious decision.
"""

import pytest
from django.db import connection

from members.models import Member
from rewards.models import Wallet

# Columns the checkout's updates change (members.services.visits._STATS_ADD_SQL,
# rewards.services.ledger.wallet_save).
MEMBER_STATS = {"visits_count", "total_spent", "first_visit_at", "last_visit_at"}
WALLET_BALANCES = {"available", "pending", "debt", "seq", "last_hash"}


def indexed_columns(table: str) -> dict[str, set[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: set(info["columns"])
        for name, info in constraints.items()
        if info["index"] or info["unique"] or info["primary_key"]
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "columns"), [(Member, MEMBER_STATS), (Wallet, WALLET_BALANCES)]
)
def test_no_index_covers_a_column_every_visit_updates(model, columns):
    indexes = indexed_columns(model._meta.db_table)
    assert indexes  # the introspection sees the table's indexes at all
    offending = {
        name: cols & columns for name, cols in indexes.items() if cols & columns
    }
    assert offending == {}


@pytest.mark.django_db
def test_member_and_wallet_tables_leave_room_for_heap_only_updates():
    if connection.vendor != "postgresql":
        pytest.skip("fillfactor is a PostgreSQL storage parameter")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN (%s, %s)",
            [Member._meta.db_table, Wallet._meta.db_table],
        )
        options = dict(cursor.fetchall())
    assert options == {
        Member._meta.db_table: ["fillfactor=90"],
        Wallet._meta.db_table: ["fillfactor=90"],
    }
