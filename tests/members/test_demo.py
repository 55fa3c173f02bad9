"""The demo chain: realistic, deterministic, idempotent, and consistent."""

from datetime import date, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max

from members import demo, selectors
from members.models import (
    Location,
    Member,
    Service,
    ServiceCategory,
    Specialist,
    Visit,
    VisitLine,
)
from tests.conftest import moscow

TODAY = "2026-11-23"


def seed(members=150, seed=7, **extra):
    args = ["--members", str(members), "--seed", str(seed), "--today", TODAY]
    args += ["--no-progress", "--jobs", "1"]
    for key, value in extra.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    call_command("seed_demo", *args)


def snapshot():
    """Everything the demo generates, in a form independent of primary keys."""
    members = sorted(
        Member.objects.values_list(
            "phone",
            "first_name",
            "last_name",
            "birthday",
            "visits_count",
            "total_spent",
        )
    )
    visits = sorted(
        Visit.objects.values_list("external_id", "status", "total", "paid_at")
    )
    return members, visits


@pytest.mark.django_db
def test_demo_creates_the_chain_catalogue_and_staff():
    seed(members=50)

    assert Location.objects.count() == 3
    assert ServiceCategory.objects.count() == 7
    assert Service.objects.count() == 25
    assert Service.objects.filter(category__code="addons").count() == 5
    assert Service.objects.filter(is_premium=True).exists()
    assert Service.objects.filter(excluded_from_discounts=True).exists()
    users = get_user_model().objects.in_bulk(
        ["admin", "manager", "frontdesk", "analyst"], field_name="username"
    )
    assert users["admin"].is_superuser
    assert users["manager"].groups.filter(name="Manager").exists()
    assert users["frontdesk"].check_password("regulars")
    assert users["analyst"].has_perm("members.view_member")
    assert not users["analyst"].has_perm("members.add_member")


@pytest.mark.django_db
def test_demo_members_have_realistic_history():
    seed(members=400)

    assert Member.objects.count() == 400
    members = Member.objects.all()
    assert all(m.phone.is_valid() for m in members)
    assert members.filter(birthday__isnull=True).count() == 0
    assert members.filter(consent_sms=True).count() > 200
    # A few regulars, many occasional clients, some who never came back.
    counts = sorted(m.visits_count for m in members)
    assert counts[-1] >= 15, "the best regulars visit every few weeks"
    assert counts[len(counts) // 2] <= 6, "the median client is occasional"
    assert members.filter(visits_count=1).count() > 40, "one-timers"
    first = Visit.objects.order_by("paid_at").first().paid_at.date()
    assert (date.fromisoformat(TODAY) - first).days > 500, "about 18 months"
    assert Visit.objects.filter(status=Visit.Status.CANCELLED).exists()
    assert Visit.objects.filter(paid_at__date__gt=TODAY).count() == 0
    # Every visit has lines, and its total is the sum of its lines.
    assert not Visit.objects.annotate(n=Count("lines")).filter(n=0).exists()
    for visit in Visit.objects.prefetch_related("lines")[:200]:
        assert visit.total == sum(line.amount for line in visit.lines.all())


@pytest.mark.django_db
def test_demo_stats_obey_the_services_invariant():
    """Bulk-written cached stats equal what the visits say: nothing to repair."""
    seed(members=300)

    assert selectors.members_with_stale_stats().count() == 0


@pytest.mark.django_db
def test_demo_is_deterministic_for_a_seed():
    seed(members=120, seed=3)
    first = snapshot()
    Visit.objects.all().delete()
    Member.objects.all().delete()

    seed(members=120, seed=3)

    assert snapshot() == first


@pytest.mark.django_db
def test_other_seed_gives_other_members():
    seed(members=60, seed=1)
    phones_1 = set(Member.objects.values_list("phone", flat=True))

    seed(members=60, seed=2)

    assert Member.objects.count() == 120
    assert not phones_1 & set(
        Member.objects.exclude(phone__in=phones_1).values_list("phone", flat=True)
    )


@pytest.mark.django_db
def test_second_run_adds_nothing_and_a_larger_run_adds_only_the_rest():
    seed(members=100)
    before = snapshot()

    seed(members=100)
    assert snapshot() == before

    seed(members=130)
    assert Member.objects.count() == 130
    members_after, visits_after = snapshot()
    assert set(before[0]) <= set(members_after)
    assert set(before[1]) <= set(visits_after)


def latest(moment) -> dict:
    """The latest time of each kind the demo wrote, and how many were after
    ``moment``."""
    return {
        "paid": Visit.objects.aggregate(m=Max("paid_at"))["m"],
        "visits_after": Visit.objects.filter(paid_at__gt=moment).count(),
        "changes_after": Visit.objects.filter(status_changed_at__gt=moment).count(),
        "members_after": Member.objects.filter(registered_at__gt=moment).count()
        + Member.objects.filter(last_visit_at__gt=moment).count()
        + Member.objects.filter(consent_sms_at__gt=moment).count(),
    }


@pytest.mark.django_db
def test_on_the_day_itself_no_visit_is_later_than_the_loading():
    # Given the demo is loaded at 13:07 on --today (business time)
    loaded = moscow(2026, 11, 23, 13, 7, 30)
    with time_machine.travel(loaded, tick=False):
        seed(members=600)

    # Then nothing it wrote happens after that moment: visits, refunds and
    # cancellations, sign-ups, consents
    got = latest(loaded)
    assert (got["visits_after"], got["changes_after"], got["members_after"]) == (
        0,
        0,
        0,
    )
    # And the history still runs up to the last days before it
    assert loaded - timedelta(days=2) < got["paid"] <= loaded
    assert selectors.members_with_stale_stats().count() == 0


@pytest.mark.django_db
def test_a_past_today_keeps_its_whole_day():
    # Given the same demo loaded the next morning: --today is over
    loaded = moscow(2026, 11, 24, 9, 0)
    with time_machine.travel(loaded, tick=False):
        seed(members=600)

    # Then --today has its afternoon and evening visits too, up to closing time
    day_end = moscow(2026, 11, 23, 21, 0)
    assert Visit.objects.filter(
        paid_at__gt=moscow(2026, 11, 23, 13, 7, 30), paid_at__lte=day_end
    ).exists()
    assert latest(day_end)["visits_after"] == 0


@pytest.mark.django_db
def test_a_future_today_is_refused():
    # Given a clock still on the day before --today (business time)
    clock = time_machine.travel(moscow(2026, 11, 22, 23, 30), tick=False)

    with clock, pytest.raises(CommandError, match="future"):
        seed(members=10)

    assert Member.objects.count() == 0


def test_history_ends_at_closing_time_or_at_the_loading_minute():
    day = date(2026, 11, 23)
    with time_machine.travel(moscow(2026, 11, 23, 13, 7, 30), tick=False):
        assert demo.history_end(day, tz=moscow(2026, 1, 1).tzinfo) == moscow(
            2026, 11, 23, 13, 7
        )
        assert demo.history_end(
            day - timedelta(days=1), tz=moscow(2026, 1, 1).tzinfo
        ) == moscow(2026, 11, 22, 21, 0)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.django_db
def test_a_womans_surname_takes_the_feminine_form(language):
    seed(members=200, language=language)

    lang = 1 if language == "ru" else 0
    women = {names[lang] for names in demo.FIRST_NAMES_F}
    men = {names[lang] for names in demo.FIRST_NAMES_M}
    feminine = "а" if language == "ru" else "a"
    members = list(Member.objects.values_list("first_name", "last_name"))
    assert {first in women for first, _last in members} == {True, False}
    for first, last in members:
        assert first in women | men
        # Ivanova, Иванова for her; Ivanov, Иванов for him
        assert last.endswith(feminine) == (first in women), (first, last)


@pytest.mark.django_db
def test_russian_demo_names():
    seed(members=20, language="ru")

    assert Location.objects.get(code="center").name == "Regulars Spa — Центр"
    assert all(
        "А" <= m.first_name[0] <= "я" or m.first_name[0] == "Ё"
        for m in Member.objects.all()
    )


@pytest.mark.django_db
def test_chunking_does_not_change_the_data():
    seed(members=90, chunk_size=100)
    by_small_chunks = snapshot()
    VisitLine.objects.all().delete()
    Visit.objects.all().delete()
    Member.objects.all().delete()

    seed(members=90, chunk_size=5000)

    assert snapshot() == by_small_chunks


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="worker processes cannot share SQLite's in-memory test database",
)
@pytest.mark.django_db(transaction=True)
def test_worker_processes_write_the_same_data():
    """--jobs 2 spawns processes that generate and write chunks side by side
    on their own connections; the rows are the same as written inline."""
    call_command(
        "seed_demo", "--members", "80", "--seed", "5", "--today", TODAY,
        "--no-progress", "--jobs", "2", "--chunk-size", "100",
    )  # fmt: skip
    with_workers = snapshot()
    VisitLine.objects.all().delete()
    Visit.objects.all().delete()
    Member.objects.all().delete()

    seed(members=80, seed=5)

    assert snapshot() == with_workers
    assert connection.is_usable()


@pytest.mark.parametrize(
    "args",
    [["--members", "-1"], ["--jobs", "0"], ["--chunk-size", "10"], ["--today", "x"]],
)
@pytest.mark.django_db
def test_bad_arguments_are_refused(args):
    with pytest.raises((CommandError, SystemExit)):
        call_command("seed_demo", *args, "--no-progress")
    assert Member.objects.count() == 0


def test_demo_phones_are_distinct_and_e164():
    phones = [demo.demo_phone(i, 42) for i in range(50_000)]

    assert len(set(phones)) == len(phones)
    assert all(p.startswith("+79") and len(p) == 12 for p in phones)


@pytest.mark.django_db
def test_demo_lines_are_performed_by_the_locations_specialists():
    seed(members=40)

    specialists = Specialist.objects.prefetch_related("locations")
    assert specialists.count() == 12
    assert all(s.locations.exists() for s in specialists)
    for location in Location.objects.all():
        assert location.specialists.count() >= 3
    lines = VisitLine.objects.select_related("visit")
    assert lines.exists()
    assert not lines.filter(specialist__isnull=True).exists()
    # Each line's specialist works where the visit took place.
    assert not lines.exclude(specialist__locations=F("visit__location")).exists()
