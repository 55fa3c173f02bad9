"""A realistic demo massage & spa chain, generated deterministically in bulk.

Used by ``manage.py seed_demo``. Everything is derived from ``(seed, index)``
and the end of the history (``history_end``: closing time on ``--today``, or
the moment of loading when that is today), so a member's data is the same
whichever chunk creates it, a second run skips what exists, and an interrupted
run resumes where it stopped.

Members and visits are written with ``bulk_create`` (a million members in
minutes) instead of one ``visit_record`` call per visit; the cached stats are
computed here from the very visits inserted, in the same transaction, so they
obey the invariant that ``members.services`` keeps (``reconcile_member_stats``
finds nothing to repair afterwards; the tests check it).
"""

from __future__ import annotations

import random
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from multiprocessing import get_context

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from members import demo_worker
from members.bulk import MEMBER_COLUMNS, ids_reserve, rows_insert
from members.models import (
    Location,
    Member,
    Service,
    ServiceCategory,
    Specialist,
    Visit,
    VisitLine,
)

# --- Catalogue --------------------------------------------------------------

LOCATIONS = [
    # code, English name, Russian name, address, weight of members registered there
    (
        "center",
        "Regulars Spa — Centre",
        "Regulars Spa — Центр",
        "Tverskaya 12, Moscow",
        5,
    ),
    (
        "patriki",
        "Regulars Spa — Patriarchs",
        "Regulars Spa — Патриаршие",
        "Malaya Bronnaya 20, Moscow",
        3,
    ),
    ("mobile", "Regulars at home", "Regulars на дому", "Mobile team, whole city", 2),
]

# code, English name, Russian name, the locations they work at
SPECIALISTS = [
    ("anna-s", "Anna Smirnova", "Анна Смирнова", ["center"]),
    ("olga-k", "Olga Kuznetsova", "Ольга Кузнецова", ["center"]),
    ("irina-v", "Irina Volkova", "Ирина Волкова", ["center", "patriki"]),
    ("dmitry-p", "Dmitry Popov", "Дмитрий Попов", ["center"]),
    ("elena-m", "Elena Morozova", "Елена Морозова", ["center", "mobile"]),
    ("natalia-l", "Natalia Lebedeva", "Наталья Лебедева", ["patriki"]),
    ("sergey-n", "Sergey Novikov", "Сергей Новиков", ["patriki"]),
    ("maria-f", "Maria Fedorova", "Мария Федорова", ["patriki"]),
    ("kirill-s", "Kirill Sokolov", "Кирилл Соколов", ["mobile"]),
    ("tatiana-p", "Tatiana Pavlova", "Татьяна Павлова", ["mobile"]),
    ("victoria-o", "Victoria Orlova", "Виктория Орлова", ["mobile", "center"]),
    ("alexey-z", "Alexey Zaitsev", "Алексей Зайцев", ["patriki"]),
]

CATEGORIES = [
    # code, English, Russian
    ("classic", "Classic massage", "Классический массаж"),
    ("sports", "Sports massage", "Спортивный массаж"),
    ("thai", "Thai massage", "Тайский массаж"),
    ("stones", "Hot stones", "Массаж горячими камнями"),
    ("lymph", "Lymphatic drainage", "Лимфодренажный массаж"),
    ("spa", "Spa rituals", "Спа-ритуалы"),
    ("addons", "Add-ons", "Дополнения"),
]

# code, category, English, Russian, price, minutes, premium, excluded, popularity
SERVICES = [
    (
        "classic-30",
        "classic",
        "Classic back massage, 30 min",
        "Классический массаж спины, 30 мин",
        1800,
        30,
        False,
        False,
        10,
    ),
    (
        "classic-60",
        "classic",
        "Classic full-body massage, 60 min",
        "Классический массаж всего тела, 60 мин",
        3200,
        60,
        False,
        False,
        20,
    ),
    (
        "classic-90",
        "classic",
        "Classic full-body massage, 90 min",
        "Классический массаж всего тела, 90 мин",
        4500,
        90,
        False,
        False,
        8,
    ),
    (
        "neck-30",
        "classic",
        "Neck and collar zone, 30 min",
        "Массаж шейно-воротниковой зоны, 30 мин",
        1600,
        30,
        False,
        False,
        9,
    ),
    (
        "anticellulite-60",
        "classic",
        "Anti-cellulite massage, 60 min",
        "Антицеллюлитный массаж, 60 мин",
        3500,
        60,
        False,
        False,
        6,
    ),
    (
        "sports-60",
        "sports",
        "Sports massage, 60 min",
        "Спортивный массаж, 60 мин",
        3800,
        60,
        False,
        False,
        8,
    ),
    (
        "sports-recovery-90",
        "sports",
        "Post-workout recovery, 90 min",
        "Восстановление после тренировок, 90 мин",
        5200,
        90,
        False,
        False,
        3,
    ),
    (
        "deep-tissue-60",
        "sports",
        "Deep tissue massage, 60 min",
        "Глубокотканный массаж, 60 мин",
        4000,
        60,
        False,
        False,
        5,
    ),
    (
        "thai-60",
        "thai",
        "Traditional Thai massage, 60 min",
        "Традиционный тайский массаж, 60 мин",
        3900,
        60,
        False,
        False,
        6,
    ),
    (
        "thai-90",
        "thai",
        "Traditional Thai massage, 90 min",
        "Традиционный тайский массаж, 90 мин",
        5400,
        90,
        False,
        False,
        4,
    ),
    (
        "thai-oil-60",
        "thai",
        "Thai oil massage, 60 min",
        "Тайский масляный массаж, 60 мин",
        4200,
        60,
        False,
        False,
        4,
    ),
    (
        "thai-foot-45",
        "thai",
        "Thai foot massage, 45 min",
        "Тайский массаж стоп, 45 мин",
        2600,
        45,
        False,
        False,
        5,
    ),
    (
        "stones-60",
        "stones",
        "Hot stone massage, 60 min",
        "Стоун-терапия, 60 мин",
        4800,
        60,
        True,
        False,
        4,
    ),
    (
        "stones-90",
        "stones",
        "Hot stone massage, 90 min",
        "Стоун-терапия, 90 мин",
        6500,
        90,
        True,
        False,
        2,
    ),
    (
        "lymph-60",
        "lymph",
        "Lymphatic drainage massage, 60 min",
        "Лимфодренажный массаж, 60 мин",
        3900,
        60,
        False,
        False,
        6,
    ),
    (
        "lymph-face-30",
        "lymph",
        "Lymphatic drainage of the face, 30 min",
        "Лимфодренаж лица, 30 мин",
        2400,
        30,
        False,
        False,
        4,
    ),
    (
        "pressotherapy-40",
        "lymph",
        "Pressotherapy, 40 min",
        "Прессотерапия, 40 мин",
        2200,
        40,
        False,
        False,
        3,
    ),
    (
        "spa-ritual-120",
        "spa",
        "Signature spa ritual for two, 120 min",
        "Фирменный спа-ритуал для двоих, 120 мин",
        14000,
        120,
        True,
        True,
        1,
    ),
    (
        "spa-detox-90",
        "spa",
        "Detox body wrap and massage, 90 min",
        "Детокс-обёртывание и массаж, 90 мин",
        6900,
        90,
        True,
        False,
        2,
    ),
    (
        "holiday-special-60",
        "spa",
        "Seasonal holiday massage, 60 min",
        "Праздничный сезонный массаж, 60 мин",
        4900,
        60,
        True,
        True,
        1,
    ),
    (
        "aroma-addon",
        "addons",
        "Aromatherapy",
        "Ароматерапия",
        600,
        15,
        False,
        False,
        10,
    ),
    (
        "premium-oil-addon",
        "addons",
        "Premium oils",
        "Премиальные масла",
        900,
        10,
        True,
        False,
        7,
    ),
    (
        "hot-towel-addon",
        "addons",
        "Hot towels",
        "Горячие полотенца",
        400,
        10,
        False,
        False,
        5,
    ),
    (
        "scalp-addon",
        "addons",
        "Head and scalp massage, 15 min",
        "Массаж головы, 15 мин",
        800,
        15,
        False,
        False,
        6,
    ),
    (
        "extra-30-addon",
        "addons",
        "Extended session, +30 min",
        "Продление сеанса, +30 мин",
        1500,
        30,
        False,
        False,
        4,
    ),
]

FIRST_NAMES_F = [
    ("Anna", "Анна"), ("Maria", "Мария"), ("Elena", "Елена"), ("Olga", "Ольга"),
    ("Natalia", "Наталья"), ("Irina", "Ирина"), ("Tatiana", "Татьяна"), ("Svetlana", "Светлана"),
    ("Ekaterina", "Екатерина"), ("Yulia", "Юлия"), ("Anastasia", "Анастасия"), ("Daria", "Дарья"),
    ("Polina", "Полина"), ("Ksenia", "Ксения"), ("Victoria", "Виктория"), ("Alina", "Алина"),
    ("Sofia", "София"), ("Veronika", "Вероника"), ("Marina", "Марина"), ("Valeria", "Валерия"),
]  # fmt: skip
FIRST_NAMES_M = [
    ("Alexander", "Александр"), ("Dmitry", "Дмитрий"), ("Sergey", "Сергей"), ("Andrey", "Андрей"),
    ("Alexey", "Алексей"), ("Maxim", "Максим"), ("Ivan", "Иван"), ("Mikhail", "Михаил"),
    ("Artem", "Артём"), ("Nikita", "Никита"), ("Pavel", "Павел"), ("Roman", "Роман"),
]  # fmt: skip
LAST_NAMES = [
    ("Ivanov", "Иванов"), ("Smirnov", "Смирнов"), ("Kuznetsov", "Кузнецов"), ("Popov", "Попов"),
    ("Vasiliev", "Васильев"), ("Petrov", "Петров"), ("Sokolov", "Соколов"), ("Mikhailov", "Михайлов"),
    ("Novikov", "Новиков"), ("Fedorov", "Фёдоров"), ("Morozov", "Морозов"), ("Volkov", "Волков"),
    ("Alekseev", "Алексеев"), ("Lebedev", "Лебедев"), ("Semenov", "Семёнов"), ("Egorov", "Егоров"),
    ("Pavlov", "Павлов"), ("Kozlov", "Козлов"), ("Stepanov", "Степанов"), ("Nikolaev", "Николаев"),
    ("Orlov", "Орлов"), ("Andreev", "Андреев"), ("Makarov", "Макаров"), ("Zakharov", "Захаров"),
]  # fmt: skip
EMAIL_DOMAINS = ["mail.example", "inbox.example", "post.example"]


def demo_name(
    first: tuple[str, str], last: tuple[str, str], *, female: bool, russian: bool
) -> tuple[str, str]:
    """A first and last name from the lists above, in one language.

    A Russian surname agrees with the person's gender: a woman's takes the
    feminine ending (Ivanov → Ivanova, Иванов → Иванова). Every surname in
    ``LAST_NAMES`` ends in -ov/-ev/-ёв, whose feminine form adds -a.
    """
    lang = 1 if russian else 0
    suffix = ("а" if russian else "a") if female else ""
    return first[lang], last[lang] + suffix


# Client kinds: share of the base, mean days between visits (min, max), and for
# "lost" clients the months after which they stopped coming.
KINDS = [
    ("regular", 0.10),
    ("occasional", 0.50),
    ("one_timer", 0.28),
    ("lost", 0.12),
]

HISTORY_DAYS = 548  # 18 months
_PHONE_STRIDE = 7_919  # prime, coprime to 10**9: index -> phone is a bijection
_PHONE_SPACE = 10**9


def demo_phone(index: int, seed: int) -> str:
    """The demo member ``index``'s phone: a distinct Russian mobile per index."""
    return f"+79{(index * _PHONE_STRIDE + seed * 1_000_003) % _PHONE_SPACE:09d}"


# --- Generation -------------------------------------------------------------


@dataclass
class Catalogue:
    locations: list[Location]
    location_weights: list[int]
    main_services: list[Service]
    main_weights: list[int]
    addons: list[Service]
    addon_weights: list[int]
    # Location id → ids of the specialists working there (in code order).
    specialists: dict[int, list[int]] = field(default_factory=dict)


def catalogue_ensure(*, russian: bool) -> Catalogue:
    """Create the demo locations, categories and services if missing."""
    locations = []
    for code, en, ru, address, _weight in LOCATIONS:
        location, _ = Location.objects.get_or_create(
            code=code, defaults={"name": ru if russian else en, "address": address}
        )
        locations.append(location)
    categories = {}
    for order, (code, en, ru) in enumerate(CATEGORIES):
        categories[code], _ = ServiceCategory.objects.get_or_create(
            code=code,
            defaults={"name": ru if russian else en, "sort_order": order * 10},
        )
    services = {}
    for code, cat, en, ru, price, minutes, premium, excluded, _pop in SERVICES:
        services[code], _ = Service.objects.get_or_create(
            code=code,
            defaults={
                "category": categories[cat],
                "name": ru if russian else en,
                "base_price": Decimal(price),
                "duration_minutes": minutes,
                "is_premium": premium,
                "excluded_from_discounts": excluded,
            },
        )
    by_code = {loc.code: loc for loc in locations}
    specialists: dict[int, list[int]] = {loc.pk: [] for loc in locations}
    for code, en, ru, works_at in SPECIALISTS:
        specialist, created = Specialist.objects.get_or_create(
            code=code, defaults={"name": ru if russian else en}
        )
        if created:
            specialist.locations.set([by_code[c] for c in works_at])
        for c in works_at:
            specialists[by_code[c].pk].append(specialist.pk)
    main = [s for s in SERVICES if s[1] != "addons"]
    addons = [s for s in SERVICES if s[1] == "addons"]
    return Catalogue(
        locations=locations,
        location_weights=[w for *_x, w in LOCATIONS],
        main_services=[services[s[0]] for s in main],
        main_weights=[s[-1] for s in main],
        addons=[services[s[0]] for s in addons],
        addon_weights=[s[-1] for s in addons],
        specialists=specialists,
    )


@dataclass
class SeedStats:
    members_created: int = 0
    members_skipped: int = 0
    visits_created: int = 0


def members_generate(
    *,
    count: int,
    seed: int,
    today: date,
    catalogue: Catalogue,
    russian: bool,
    chunk_size: int = 5_000,
    jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> SeedStats:
    """Create demo members ``0..count-1`` that do not exist yet, with visits.

    ``jobs`` > 1 generates and writes chunks in that many worker processes.
    """
    stats = SeedStats()
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    now = history_end(today, tz=tz)
    gen = _Generator(seed=seed, now=now, tz=tz, catalogue=catalogue, russian=russian)

    def done(size: int, created: int, visits: int) -> None:
        stats.members_created += created
        stats.visits_created += visits
        if progress:
            progress(size)

    # With jobs > 1, worker processes each generate and write whole chunks on
    # their own database connection, so the database server and the Python
    # generators keep every core busy. They are spawned, not forked: a forked
    # child would inherit this process's open database socket. Inside a
    # transaction (a test, a caller's atomic block) other connections would not
    # see it, and an in-memory SQLite database cannot be shared at all.
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    if connection.in_atomic_block or in_memory:
        jobs = 1
    if jobs == 1:
        for start in range(0, count, chunk_size):
            indexes = range(start, min(start + chunk_size, count))
            todo = _missing(indexes, seed)
            stats.members_skipped += len(indexes) - len(todo)
            done(len(indexes), *_chunk_create(gen, todo))
        return stats
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=get_context("spawn"),
        initializer=demo_worker.init,
        initargs=(connection.settings_dict["NAME"],),
    )
    with pool:
        pending: deque = deque()
        for start in range(0, count, chunk_size):
            indexes = range(start, min(start + chunk_size, count))
            todo = _missing(indexes, seed)
            stats.members_skipped += len(indexes) - len(todo)
            pending.append(
                (len(indexes), pool.submit(demo_worker.chunk_create, gen, todo))
            )
            while len(pending) > jobs:
                size, future = pending.popleft()
                done(size, *future.result())
        while pending:
            size, future = pending.popleft()
            done(size, *future.result())
    return stats


def history_end(today: date, *, tz: zoneinfo.ZoneInfo) -> datetime:
    """When the demo's history stops: closing time (21:00, business time) on
    ``today``, or the moment the demo is loaded if that comes first.

    No demo visit, payment or sign-up is later than the loading: with ``today``
    the current date, history stops at the current minute (the rest of the day
    has not happened yet); a past ``today`` keeps its whole day.
    """
    closing = datetime.combine(today, time(21, 0), tzinfo=tz)
    loaded = timezone.now().astimezone(tz).replace(second=0, microsecond=0)
    return min(closing, loaded)


def _chunk_create(gen: _Generator, indexes: list[int]) -> tuple[int, int]:
    return _chunk_write(gen.people(indexes)) if indexes else (0, 0)


def _missing(indexes: range, seed: int) -> list[int]:
    """The demo member indexes whose phone is not taken yet."""
    phones = {demo_phone(i, seed): i for i in indexes}
    existing = {
        number.as_e164
        for number in Member.objects.filter(phone__in=list(phones)).values_list(
            "phone", flat=True
        )
    }
    return [i for p, i in phones.items() if p not in existing]


# Rows are plain tuples in the column order below, written with COPY on
# PostgreSQL and executemany on SQLite: model instances and bulk_create cost
# ~40 µs a row in Python, which turns a million members into an hour.
# MEMBER_COLUMNS: members.bulk's (the importers write the same columns).
VISIT_COLUMNS = [
    "id", "member_id", "location_id", "status", "source", "external_id",
    "fingerprint", "total", "amount_paid", "paid_at", "note", "created_at",
    "status_changed_at", "status_reason",
]  # fmt: skip
LINE_COLUMNS = ["visit_id", "service_id", "price", "quantity", "specialist_id"]


def _joined_via(seed: int, index: int, *, migrated: bool) -> str:
    """How demo member ``index`` joined: those migrated at launch came in by
    import; of the rest, about one in seven through a friend's code and one in
    seven in the app, the others at the till — overall about half till, a
    third import, a tenth each app and referral. A random stream of its own, so
    every other demo value of a seed stays as it was."""
    if migrated:
        return Member.JoinedVia.IMPORT.value
    roll = random.Random(f"regulars-demo-joined:{seed}:{index}").random()
    if roll < 0.14:
        return Member.JoinedVia.REFERRAL.value
    if roll < 0.28:
        return Member.JoinedVia.APP.value
    return Member.JoinedVia.TILL.value


@dataclass
class _Person:
    member: list  # MEMBER_COLUMNS without the id
    visits: list[tuple[list, list[tuple]]]  # (VISIT_COLUMNS without ids, lines)


@transaction.atomic
def _chunk_write(people: list[_Person]) -> tuple[int, int]:
    if connection.vendor == "postgresql":
        # Demo rows can be regenerated: don't wait for each chunk's WAL flush.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
    member_ids = ids_reserve(Member, len(people))
    visit_ids = ids_reserve(Visit, sum(len(p.visits) for p in people))
    members, visits, lines = [], [], []
    next_visit = iter(visit_ids)
    for member_id, person in zip(member_ids, people, strict=True):
        members.append((member_id, *person.member))
        for visit, visit_lines in person.visits:
            visit_id = next(next_visit)
            visits.append((visit_id, member_id, *visit))
            lines.extend((visit_id, *line) for line in visit_lines)
    rows_insert(Member, MEMBER_COLUMNS, members)
    rows_insert(Visit, VISIT_COLUMNS, visits)
    rows_insert(VisitLine, LINE_COLUMNS, lines)
    return len(members), len(visits)


class _Generator:
    """Makes the rows of demo member ``index`` from ``(seed, index)`` alone."""

    def __init__(self, *, seed, now, tz, catalogue: Catalogue, russian: bool):
        self.seed, self.now, self.tz, self.russian = seed, now, tz, russian
        self.utc = zoneinfo.ZoneInfo("UTC")
        self.created = datetime.now(tz=self.utc)
        self.locations = [loc.pk for loc in catalogue.locations]
        self.location_cum = list(accumulate(catalogue.location_weights))
        self.main = [(s.pk, s.base_price) for s in catalogue.main_services]
        self.main_cum = list(accumulate(catalogue.main_weights))
        self.addons = [(s.pk, s.base_price) for s in catalogue.addons]
        self.addon_cum = list(accumulate(catalogue.addon_weights))
        self.specialists = catalogue.specialists
        self.kinds = [k for k, _ in KINDS]
        self.kind_cum = list(accumulate(w for _, w in KINDS))

    def people(self, indexes: list[int]) -> list[_Person]:
        return [self.person(i) for i in indexes]

    def person(self, index: int) -> _Person:
        rnd = random.Random(f"regulars-demo:{self.seed}:{index}")
        now = self.now
        female = rnd.random() < 0.72
        first = rnd.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
        last = rnd.choice(LAST_NAMES)
        first_name, last_name = demo_name(
            first, last, female=female, russian=self.russian
        )
        # A third of the base was migrated at launch; the rest joined since.
        migrated = rnd.random() < 0.3
        if migrated:
            registered = now - timedelta(days=HISTORY_DAYS - rnd.randint(0, 20))
        else:
            registered = now - timedelta(days=rnd.randint(0, HISTORY_DAYS - 21))
        registered = registered.replace(
            hour=rnd.randint(10, 20), minute=rnd.randint(0, 59)
        )
        if registered > now:
            # Joined "today" at an hour still to come: the day before instead.
            registered -= timedelta(days=1)
        home = rnd.choices(self.locations, cum_weights=self.location_cum)[0]
        email = ""
        if rnd.random() < 0.6:
            email = f"{first[0].lower()}.{last[0].lower()}{index}@{rnd.choice(EMAIL_DOMAINS)}"
        blocked = rnd.random() < 0.005

        visits, count, spent, first_at, last_at = [], 0, Decimal("0"), None, None
        for n, paid_at in enumerate(self._visit_times(rnd, registered)):
            location = home if rnd.random() < 0.85 else rnd.choice(self.locations)
            service, price = rnd.choices(self.main, cum_weights=self.main_cum)[0]
            # Who performed it: derived, not drawn, so the random stream (and
            # every other demo value of a seed) stays as it was.
            staff = self.specialists.get(location) or [None]
            specialist = staff[(index * 7 + n) % len(staff)]
            lines = [(service, price, 1, specialist)]
            total = price
            if rnd.random() < 0.3:
                addon, addon_price = rnd.choices(
                    self.addons, cum_weights=self.addon_cum
                )[0]
                lines.append((addon, addon_price, 1, specialist))
                total += addon_price
            roll = rnd.random()
            status = (
                "cancelled" if roll < 0.02 else "refunded" if roll < 0.03 else "paid"
            )
            paid_utc = paid_at.astimezone(self.utc)
            if status == "paid":
                count += 1
                spent += total
                first_at = first_at or paid_utc
                last_at = paid_utc
            visit = [
                location, status, Visit.Source.DEMO.value,
                f"demo-{self.seed}-{index}-{n}", "", total, total, paid_utc, "",
                self.created, None if status == "paid" else paid_utc, "",
            ]  # fmt: skip
            visits.append((visit, lines))
        registered_utc = registered.astimezone(self.utc)
        member = [
            demo_phone(index, self.seed), email, first_name, last_name,
            date(rnd.randint(1960, 2006), rnd.randint(1, 12), rnd.randint(1, 28)),
            "blocked" if blocked else "active",
            registered_utc, home, "",
            rnd.random() < 0.7, registered_utc,
            bool(email) and rnd.random() < 0.6, registered_utc,
            rnd.random() < 0.35, registered_utc,
            count, spent, first_at, last_at,
            self.created, self.created,
            _joined_via(self.seed, index, migrated=migrated),
        ]  # fmt: skip
        return _Person(member, visits)

    def _visit_times(
        self, rnd: random.Random, registered: datetime
    ) -> Iterator[datetime]:
        now = self.now
        kind = rnd.choices(self.kinds, cum_weights=self.kind_cum)[0]
        if kind == "one_timer":
            gaps, stop = (30, 120), registered + timedelta(days=rnd.randint(0, 150))
            limit = rnd.choice([1, 1, 1, 2])
        elif kind == "regular":
            gaps, stop, limit = (10, 28), now, 10_000
        elif kind == "lost":
            gaps, limit = (14, 45), 10_000
            stop = registered + timedelta(days=rnd.randint(60, 240))
        else:
            gaps, stop, limit = (35, 110), now, 10_000
        # Most clients pay on the day they join; some join first and come later.
        day = registered
        if rnd.random() >= 0.8:
            day += timedelta(days=rnd.randint(1, 20))
        stop = min(stop, now)
        count = 0
        while day <= stop and count < limit:
            slot = day.replace(
                hour=rnd.randint(10, 20), minute=rnd.choice((0, 15, 30, 45))
            )
            slot = max(slot, registered)  # never paid before joining
            if slot <= now:
                yield slot
                count += 1
            day += timedelta(days=rnd.randint(*gaps))
