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
# rewards.services.ledger.wallet_save). ``first_visit_at`` is indexed on
# purpose (the home page's new members): it changes on a member's first visit
# only, and an update that leaves an indexed value as it was stays heap-only
# (checked below).
MEMBER_STATS = {"visits_count", "total_spent", "last_visit_at"}
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


def _updates(table: str) -> tuple[int, int]:
    """(updates, heap-only updates) of ``table`` in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = %s",
            [table],
        )
        row = cursor.fetchone()
    return row or (0, 0)


@pytest.mark.django_db
def test_a_members_later_visit_updates_the_member_heap_only(member, record_visit):
    if connection.vendor != "postgresql":
        pytest.skip("heap-only updates are PostgreSQL's")
    from datetime import timedelta

    from django.utils import timezone

    table = Member._meta.db_table
    record_visit(member, paid_at=timezone.now() - timedelta(days=3))
    before = _updates(table)
    # When the member comes again (first_visit_at stays as it was)
    record_visit(member)
    updates, hot = (a - b for a, b in zip(_updates(table), before, strict=True))
    # Then every update of the member row was heap-only
    assert updates >= 1
    assert hot == updates
