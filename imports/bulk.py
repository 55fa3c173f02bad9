"""New members written in bulk, for the importers: COPY on PostgreSQL.

``member_register`` costs a dozen statements and ~1 ms a member; a salon's
base of a million clients is a minute's work only as rows written in bulk.
What it writes is what ``member_register`` writes for a member with no
referral code: the member row (consents stamped now, joined by import) and the
phone in the phone history. Callers validate the values first (``member_values_check``)
and hold the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from imports.reading import RowError
from members.bulk import MEMBER_COLUMNS, ids_reserve, rows_insert
from members.hashing import e164_hash
from members.models import Member, MemberPhone, Visit

PHONE_COLUMNS = ["member_id", "phone_hash", "since"]

_MAX_LENGTHS = {
    name: Member._meta.get_field(name).max_length
    for name in ("first_name", "last_name", "email")
}
_OLDEST_BIRTHDAY = date(1900, 1, 1)


@dataclass
class NewMember:
    phone: str  # E.164
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    birthday: date | None = None
    preferences: str = ""
    location_id: int | None = None
    consents: frozenset[str] = frozenset()


def member_values_check(
    *, first_name: str, last_name: str, email: str, birthday: date | None
) -> str:
    """Raise ``RowError`` for values the member form would refuse; return the
    email as stored (lower case). The same rules as ``Member.full_clean``,
    without its cost per row."""
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > _MAX_LENGTHS[name]:
            raise RowError(
                name,
                _("Longer than %(max)d characters.") % {"max": _MAX_LENGTHS[name]},
            )
    email = email.lower()
    if email:
        if len(email) > _MAX_LENGTHS["email"]:
            raise RowError(
                "email",
                _("Longer than %(max)d characters.") % {"max": _MAX_LENGTHS["email"]},
            )
        try:
            validate_email(email)
        except ValidationError:
            raise RowError(
                "email", _("Not an email address: “%(value)s”.") % {"value": email}
            ) from None
    if birthday is not None and not _OLDEST_BIRTHDAY <= birthday <= date.today():
        raise RowError(
            "birthday",
            _("Not a plausible birthday: %(value)s.") % {"value": birthday.isoformat()},
        )
    return email


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)  # int, Decimal (quantized: never an exponent)


def copy_escape(value: str) -> str:
    """A text value as COPY's text format wants it."""
    return value.translate(_COPY_ESCAPES)


def copy_text(model, columns: list[str], data: str) -> None:
    """COPY ``data`` (rows in COPY's text format, each ending in a newline)
    into ``model``'s table (PostgreSQL)."""
    if not data:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    # The raw cursor's COPY: its errors wrapped as Django's (IntegrityError…).
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f'COPY "{model._meta.db_table}" ({names}) FROM STDIN'
        ) as copy,
    ):
        copy.write(data)


def rows_copy(model, columns: list[str], rows: list) -> None:
    """``members.bulk.rows_insert``, with the COPY text made here in one piece:
    psycopg's ``write_row`` costs ~5 µs a row."""
    if connection.vendor != "postgresql":
        rows_insert(model, columns, rows)
        return
    copy_text(
        model, columns, "".join("\t".join(map(_copy_value, row)) + "\n" for row in rows)
    )


def _consent(channel: str, consents: frozenset[str], now: datetime) -> tuple:
    # As ``member_register`` stamps them: only the consents given.
    return (True, now) if channel in consents else (False, None)


def members_create(people: list[NewMember], *, at: datetime | None = None) -> list[int]:
    """Write ``people`` (phones not in the database, each once) and return
    their ids in the same order."""
    if not people:
        return []
    now = at or timezone.now()
    ids = ids_reserve(Member, len(people))
    if connection.vendor == "postgresql":
        _members_copy(ids, people, now)
        return ids
    members, phones = [], []
    for member_id, person in zip(ids, people, strict=True):
        consents = person.consents
        members.append(
            (
                member_id,
                person.phone,
                person.email,
                person.first_name,
                person.last_name,
                person.birthday,
                Member.Status.ACTIVE.value,
                now,
                person.location_id,
                person.preferences,
                *_consent("sms", consents, now),
                *_consent("email", consents, now),
                *_consent("push", consents, now),
                0,
                0,
                None,
                None,
                now,
                now,
                Member.JoinedVia.IMPORT.value,
            )  # fmt: skip
        )
        phones.append((member_id, e164_hash(person.phone), now))
    rows_insert(Member, MEMBER_COLUMNS, members)
    rows_insert(MemberPhone, PHONE_COLUMNS, phones)
    return ids


def _members_copy(ids: list[int], people: list[NewMember], now: datetime) -> None:
    """The same rows as COPY text written out (a generic cell formatter cost
    ~15 µs a member)."""
    now_text = now.isoformat()
    joined_via = Member.JoinedVia.IMPORT.value
    granted = f"t\t{now_text}"
    refused = "f\t\\N"
    members, phones = [], []
    for member_id, person in zip(ids, people, strict=True):
        consents = person.consents
        birthday = person.birthday.isoformat() if person.birthday else "\\N"
        location = person.location_id if person.location_id else "\\N"
        members.append(
            f"{member_id}\t{person.phone}\t{copy_escape(person.email)}\t"
            f"{copy_escape(person.first_name)}\t{copy_escape(person.last_name)}\t"
            f"{birthday}\tactive\t{now_text}\t{location}\t"
            f"{copy_escape(person.preferences)}\t"
            f"{granted if 'sms' in consents else refused}\t"
            f"{granted if 'email' in consents else refused}\t"
            f"{granted if 'push' in consents else refused}\t"
            f"0\t0\t\\N\t\\N\t{now_text}\t{now_text}\t{joined_via}\n"
        )
        phones.append(f"{member_id}\t{e164_hash(person.phone)}\t{now_text}\n")
    copy_text(Member, MEMBER_COLUMNS, "".join(members))
    copy_text(MemberPhone, PHONE_COLUMNS, "".join(phones))


# A list of values as one string parameter: psycopg quotes each element of an
# array parameter with a regular expression, seconds on a million-row import.
# Values never hold the separator (phones, ids, numbers, ISO times; the
# importers refuse control characters in booking ids).
PG_LIST = "string_to_array(%s, chr(31))"


def pg_list(values) -> str:
    return "\x1f".join(str(value) for value in values)


def members_by_phone(phones, columns: tuple[str, ...]) -> dict[str, dict]:
    """``{E.164 phone: {column: value}}`` of the members with these phones, in
    one query — without the phone field's parsing of every value both ways,
    which costs more than the query."""
    phones = list(phones)
    if not phones:
        return {}
    names = ", ".join(f'"{c}"' for c in ("phone", *columns))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                # The table may be growing fast under the import with stale
                # statistics: a sequential scan, or the phone's trigram index
                # (which answers equality too, through a bitmap), for each
                # chunk's phones turns a minute into hours. The phone's unique
                # index, always.
                cursor.execute("SET LOCAL enable_seqscan TO off")
                cursor.execute("SET LOCAL enable_bitmapscan TO off")
                cursor.execute(
                    f"SELECT {names} FROM members_member "  # noqa: S608
                    f"WHERE phone = ANY({PG_LIST})",
                    [pg_list(phones)],
                )
        else:
            marks = ", ".join(["%s"] * len(phones))
            cursor.execute(
                f"SELECT {names} FROM members_member WHERE phone IN ({marks})",  # noqa: S608
                phones,
            )
        found = {}
        for row in cursor.fetchall():
            values = dict(zip(columns, row[1:], strict=True))
            found[row[0]] = values
        return found


def imported_visits(external_ids: list[str]) -> dict[str, str]:
    """``{external id: fingerprint}`` of the imported visits with these ids, in
    one query on the ``(source, external_id)`` unique index — forced, as for
    the phones: the visits table grows under the import faster than its
    statistics, and a scan of it per chunk makes the import quadratic."""
    if not external_ids:
        return {}
    source = Visit.Source.IMPORT.value
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with transaction.atomic():
                cursor.execute("SET LOCAL enable_seqscan TO off")
                cursor.execute("SET LOCAL enable_bitmapscan TO off")
                cursor.execute(
                    "SELECT external_id, fingerprint FROM members_visit "
                    f"WHERE source = %s AND external_id = ANY({PG_LIST}) "
                    "AND external_id <> ''",
                    [source, pg_list(external_ids)],
                )
                return dict(cursor.fetchall())
        marks = ", ".join(["%s"] * len(external_ids))
        cursor.execute(
            "SELECT external_id, fingerprint FROM members_visit "  # noqa: S608
            f"WHERE source = %s AND external_id IN ({marks})",
            [source, *external_ids],
        )
        return dict(cursor.fetchall())


def commit_unhurried() -> None:
    """Inside a chunk's transaction: do not wait for its WAL to reach the disk
    at COMMIT (PostgreSQL). A crash may lose the last chunks written — the
    import is idempotent, so running it again brings them — never corrupt
    anything; the salon's own transactions keep their durable commits."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def write_conflict(exc: Exception) -> bool:
    """A deadlock or serialization failure: the chunk can simply be retried."""
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}


# Rows written by one import after which its tables get fresh statistics.
ANALYZE_AFTER = 10_000


def tables_analyze(*models) -> None:
    """Fresh planner statistics after a large load (PostgreSQL; autovacuum
    would get there, later)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


# --- visits ------------------------------------------------------------------

VISIT_COLUMNS = [
    "id", "member_id", "location_id", "status", "source", "external_id",
    "fingerprint", "total", "amount_paid", "paid_at", "note", "created_at",
    "status_changed_at", "status_reason", "payment_method",
]  # fmt: skip
LINE_COLUMNS = [
    "visit_id", "service_id", "price", "list_price", "price_reason", "quantity",
    "specialist_id",
]  # fmt: skip

# PostgreSQL: one statement a chunk, the deltas as arrays.
_STATS_PG = """
    UPDATE members_member AS m SET
        visits_count = m.visits_count + d.n,
        total_spent = ROUND(m.total_spent + d.amount, 2),
        first_visit_at = LEAST(COALESCE(m.first_visit_at, d.first), d.first),
        last_visit_at = GREATEST(COALESCE(m.last_visit_at, d.last), d.last)
    FROM unnest(
        string_to_array(%s, chr(31))::bigint[], string_to_array(%s, chr(31))::int[],
        string_to_array(%s, chr(31))::numeric[],
        string_to_array(%s, chr(31))::timestamptz[],
        string_to_array(%s, chr(31))::timestamptz[]
    ) AS d(id, n, amount, first, last)
    WHERE m.id = d.id
"""
_STATS_SQLITE = """
    UPDATE members_member SET
        visits_count = visits_count + %s,
        total_spent = ROUND(total_spent + %s, 2),
        first_visit_at = MIN(COALESCE(first_visit_at, %s), %s),
        last_visit_at = MAX(COALESCE(last_visit_at, %s), %s)
    WHERE id = %s
"""


def stats_add(stats: dict[int, list]) -> None:
    """Add imported visits to the members' cached stats: ``{member id: [count,
    amount, first paid_at, last paid_at]}`` — on PostgreSQL in one statement."""
    if not stats:
        return
    ordered = sorted(stats.items())  # one lock order for every writer
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _STATS_PG,
                [
                    pg_list(member_id for member_id, _ in ordered),
                    pg_list(entry[0] for _, entry in ordered),
                    pg_list(entry[1] for _, entry in ordered),
                    pg_list(entry[2].isoformat() for _, entry in ordered),
                    pg_list(entry[3].isoformat() for _, entry in ordered),
                ],
            )
            return
        ops = connection.ops
        params = []
        for member_id, (count, amount, first, last) in ordered:
            first_value = ops.adapt_datetimefield_value(first)
            last_value = ops.adapt_datetimefield_value(last)
            params.append(
                (count, amount, first_value, first_value, last_value, last_value,
                 member_id)
            )  # fmt: skip
        cursor.executemany(_STATS_SQLITE, params)
