"""``core.bulk.rows_copy``: many rows by COPY (PostgreSQL) or batched INSERTs
(SQLite), what a unique constraint turns away skipped, the new rows' columns
returned; read back through the ORM they are what ``bulk_create`` writes."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.bulk import rows_copy
from members.messaging.services import MESSAGE_COLUMNS
from members.models import Message
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 14, 30, tzinfo=ZoneInfo("Europe/Moscow"))


def a_message(member, key, **extra) -> Message:
    return Message(
        member=member, channel="sms", kind="marketing", recipient="+79160000001",
        template_key="promo", language="ru", context={"code": key, "n": 3},
        subject="", body=f"Код {key} — «скидка» 10 %\ttab\\slash\nnew line",
        dedupe_key=key, created_at=AT, **extra,
    )  # fmt: skip


def values(message: Message) -> list:
    return [getattr(message, name) for name in MESSAGE_COLUMNS]


def test_rows_go_in_as_bulk_create_would_write_them():
    member = MemberFactory()
    made = rows_copy(
        Message,
        MESSAGE_COLUMNS,
        [values(a_message(member, f"k-{n}")) for n in range(3)],
        returning=("id", "dedupe_key"),
    )
    assert sorted(key for _pk, key in made) == ["k-0", "k-1", "k-2"]
    expected = a_message(member, "twin")
    Message.objects.bulk_create([expected])
    twin = Message.objects.get(dedupe_key="twin")
    for pk, key in made:
        row = Message.objects.get(pk=pk)
        assert row.dedupe_key == key
        for name in MESSAGE_COLUMNS:
            if name in ("dedupe_key", "context", "body"):
                continue
            assert getattr(row, name) == getattr(twin, name), name
        assert row.context == {"code": key, "n": 3}
        assert row.body == expected.body.replace("twin", key)
        assert row.created_at == AT


def test_what_a_unique_constraint_turns_away_is_skipped_not_an_error():
    member = MemberFactory()
    rows_copy(Message, MESSAGE_COLUMNS, [values(a_message(member, "a"))])
    again = rows_copy(
        Message,
        MESSAGE_COLUMNS,
        [values(a_message(member, key)) for key in ("a", "b", "b")],
        returning=("dedupe_key",),
    )
    assert again == [("b",)]
    assert Message.objects.filter(dedupe_key__in=["a", "b"]).count() == 2


def test_nothing_to_write_is_no_statement(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert rows_copy(Message, MESSAGE_COLUMNS, [], returning=("id",)) == []


def test_more_rows_than_one_batch_of_parameters():
    member = MemberFactory()
    made = rows_copy(
        Message,
        MESSAGE_COLUMNS,
        (values(a_message(member, f"m-{n}")) for n in range(250)),
        returning=("id",),
    )
    assert len(made) == 250 == Message.objects.filter(member=member).count()
