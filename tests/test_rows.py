"""The checkout's one-row reads and INSERTs written once per model
(``core.rows``: ``row_get``, ``row_find``, ``rows_insert``; ``core.locks.row_lock``): the rows
read and written are exactly the ORM's."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Model

from core.locks import row_lock
from core.rows import row_find, row_get, row_get_with, rows_insert
from members.models import Member, Visit, VisitLine
from rewards.models import VisitBenefit
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

PAID = datetime(2026, 11, 20, 14, 30, tzinfo=ZoneInfo("Europe/Moscow"))


def fields_of(obj: Model) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def a_visit(member, location, **extra) -> Visit:
    return Visit(
        member=member,
        location=location,
        source=Visit.Source.POS,
        external_id=extra.pop("external_id", "B-1"),
        fingerprint="f" * 64,
        total=Decimal("4500.50"),
        amount_paid=Decimal("4000.25"),
        paid_at=PAID,
        payment_card_hash="c" * 64,
        **extra,
    )


def test_an_inserted_row_reads_back_as_the_orm_would_have_written_it(member, location):
    # Given a visit written through rows_insert and an equal one through save()
    ours = a_visit(member, location, external_id="B-ours")
    theirs = a_visit(member, location, external_id="B-theirs")

    rows_insert([ours])
    theirs.save()

    # Then both have a primary key, and their rows differ only by id and booking
    assert ours.pk is not None and ours.pk != theirs.pk
    assert not ours._state.adding
    mine, orm = (
        fields_of(Visit.objects.get(pk=ours.pk)),
        fields_of(Visit.objects.get(pk=theirs.pk)),
    )
    for row in (mine, orm):
        row.pop("id")
        row.pop("external_id")
    # auto_now_add filled in by both (pre_save), a few microseconds apart
    assert abs(mine.pop("created_at") - orm.pop("created_at")).total_seconds() < 5
    assert mine == orm
    assert mine["paid_at"] == PAID
    assert mine["amount_paid"] == Decimal("4000.25")


def test_several_rows_get_their_own_keys_in_order(member, location, service):
    visit = a_visit(member, location)
    rows_insert([visit])

    lines = rows_insert(
        [
            VisitLine(visit=visit, service=service, price=Decimal(p), quantity=q)
            for p, q in (("100.00", 1), ("250.50", 2), ("9.99", 3))
        ]
    )

    stored = {
        line.pk: (line.price, line.quantity)
        for line in VisitLine.objects.filter(visit=visit)
    }
    assert stored == {line.pk: (line.price, line.quantity) for line in lines}
    assert [line.quantity for line in lines] == [1, 2, 3]


def test_json_and_null_foreign_keys_are_written_as_the_orm_writes_them(
    member, location
):
    visit = a_visit(member, location)
    rows_insert([visit])
    benefit = VisitBenefit(
        visit=visit,
        kind="tier_discount",
        source="Gold",
        amount=Decimal("150.00"),
        points=0,
        voucher=None,
        reason="Gold tier discount 15%",
        params={"percent": "15", "nested": [1, 2]},
    )

    rows_insert([benefit])

    stored = VisitBenefit.objects.get(pk=benefit.pk)
    assert stored.params == {"percent": "15", "nested": [1, 2]}
    assert stored.voucher_id is None
    assert stored.amount == Decimal("150.00")


def test_a_row_read_without_and_with_a_lock_is_the_orms_row(member):
    orm = Member.objects.get(pk=member.pk)

    assert fields_of(row_get(Member, member.pk)) == fields_of(orm)
    assert fields_of(row_lock(Member, member.pk)) == fields_of(orm)
    assert row_get(Member, 10**9) is None


def test_a_row_read_with_an_extra_column(member):
    row = row_get_with(Member, member.pk, "%s AS answer", [42])

    assert row.answer == 42
    assert row.pk == member.pk


def test_dates_come_back_as_dates(member, location):
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 5, 17))

    assert row_get(Member, member.pk).birthday == date(1990, 5, 17)


def test_a_row_found_by_a_condition_is_the_orms_row(member):
    other = MemberFactory()
    where = "members_member.id = %s AND members_member.status = %s"

    found = row_find(Member, where, [member.pk, member.status])

    assert fields_of(found) == fields_of(Member.objects.get(pk=member.pk))
    assert row_find(Member, where, [other.pk, other.status]).pk == other.pk
    assert row_find(Member, where, [member.pk, "no-such-status"]) is None


def test_a_deferred_field_is_left_out_and_loaded_on_first_access(member):
    row = row_get(Member, member.pk, defer=("phone",))

    assert row.get_deferred_fields() == {"phone"}
    assert row.first_name == member.first_name
    assert row.phone == Member.objects.get(pk=member.pk).phone
