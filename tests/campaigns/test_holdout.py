"""Holdout assignment: the hash split in Python and its SQL twins agree."""

import hashlib
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created

from campaigns import holdout

IDS = range(1, 100_001)
SALTS = ["a1b2c3d4e5f60718", "spring-2025", "0", "соль"]


def control_ids(salt, percent, ids=IDS):
    limit = holdout.threshold(percent)  # in_control() without re-parsing percent
    return {i for i in ids if holdout.bucket(salt, i) < limit}


def test_in_control_is_bucket_below_percent_times_100():
    for i in range(1, 3_001):
        b = holdout.bucket("spring-2025", i)
        assert holdout.in_control("spring-2025", i, 10) is (b < 1_000)
        assert holdout.in_control("spring-2025", i, Decimal("2.5")) is (b < 250)


def test_bucket_is_the_documented_formula():
    digest = hashlib.md5(b"spring-2025:42").hexdigest()
    assert holdout.bucket("spring-2025", 42) == int(digest[:8], 16) % 10_000
    # Pinned: a change of formula would move every member between groups.
    assert [holdout.bucket("spring-2025", i) for i in (1, 2, 3, 42)] == [
        3267,
        6858,
        1096,
        8867,
    ]
    assert all(0 <= holdout.bucket(s, i) < 10_000 for s in SALTS for i in IDS[:5000])


@pytest.mark.parametrize("salt", SALTS)
def test_ten_percent_split_on_100k_members(salt):
    control = control_ids(salt, 10)
    assert 9_000 <= len(control) <= 11_000  # 10 % ± 1 point
    assert control == control_ids(salt, Decimal("10"))  # same again, int or Decimal


def test_different_salts_split_independently():
    first, second = control_ids(SALTS[0], 10), control_ids(SALTS[1], 10)
    assert first != second
    # Independent 10 % groups share about 10 % × 10 % = 1 % of members.
    assert 700 <= len(first & second) <= 1_300


def test_zero_and_fifty_percent():
    assert control_ids(SALTS[0], 0) == set()
    half = len(control_ids(SALTS[0], 50))
    assert 49_000 <= half <= 51_000


def test_percent_threshold_and_limits():
    assert holdout.threshold(10) == 1_000
    assert holdout.threshold(Decimal("12.5")) == 1_250
    assert holdout.threshold(0) == 0
    for bad in (-1, 51, Decimal("10.005")):
        with pytest.raises(ValueError):
            holdout.threshold(bad)
    with pytest.raises(TypeError):
        holdout.threshold(10.0)


def test_new_salt():
    salts = {holdout.new_salt() for _ in range(100)}
    assert len(salts) == 100
    assert all(len(s) == 16 and int(s, 16) >= 0 for s in salts)


def test_unknown_vendor():
    with pytest.raises(NotImplementedError):
        holdout.bucket_sql("%s", "id", "mysql")


def sql_buckets(salt, ids_sql):
    """(id, bucket) pairs computed by the database over ``ids_sql``."""
    expr = holdout.bucket_sql("%s", "g.id", connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g.id, {expr} FROM ({ids_sql}) AS g", [salt])
        return dict(cursor.fetchall())


PG_IDS = (
    "SELECT generate_series(1, 20000)::bigint AS id"
    " UNION ALL SELECT unnest(ARRAY[2147483647, 2147483648, 1099511627776,"
    " 9223372036854775807]::bigint[])"
)
SQLITE_IDS = (
    "WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n"
    " WHERE id < 20000) SELECT id FROM n"
    " UNION ALL SELECT 2147483648 UNION ALL SELECT 9223372036854775807"
)


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL SQL")
@pytest.mark.parametrize("salt", SALTS)
def test_postgres_expression_matches_python(salt):
    buckets = sql_buckets(salt, PG_IDS)
    assert len(buckets) == 20_004
    assert buckets == {i: holdout.bucket(salt, i) for i in buckets}
    assert min(buckets.values()) >= 0  # bit(32)::bigint is unsigned


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL SQL")
def test_postgres_set_based_count_matches_python():
    salt = SALTS[0]
    expr = holdout.bucket_sql("%s", "g", "postgresql")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM generate_series(1, 100000) AS g WHERE {expr} < %s",
            [salt, holdout.threshold(10)],
        )
        (count,) = cursor.fetchone()
    assert count == len(control_ids(salt, 10))


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite function")
@pytest.mark.parametrize("salt", SALTS)
def test_sqlite_function_matches_python(salt):
    connection.ensure_connection()
    holdout.sqlite_register(connection)
    buckets = sql_buckets(salt, SQLITE_IDS)
    assert len(buckets) == 20_002
    assert buckets == {i: holdout.bucket(salt, i) for i in buckets}
    with connection.cursor() as cursor:
        cursor.execute("SELECT regulars_bucket(NULL, 1), regulars_bucket('a', NULL)")
        assert cursor.fetchone() == (None, None)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite function")
def test_install_registers_on_new_connections():
    holdout.install()
    fresh = connections.create_connection("default")
    try:
        fresh.ensure_connection()  # fires connection_created
        with fresh.cursor() as cursor:
            cursor.execute("SELECT regulars_bucket('spring-2025', 42)")
            assert cursor.fetchone() == (8867,)
    finally:
        fresh.close()
        connection_created.disconnect(dispatch_uid="regulars_holdout_bucket")
