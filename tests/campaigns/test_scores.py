"""The nightly member scores (``campaigns.scores.scores_refresh``).

The clock is frozen at 10 June 2025, 15:00 Moscow time (``conftest``), so the
business date is 10 June 2025 and its 12 months run from 11 June 2024.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.core.management import CommandError, call_command

from campaigns.categories import members_with_category
from campaigns.models import MemberCategory, MemberScore
from campaigns.scores import scores_refresh
from campaigns.tasks import scores_refresh_task
from config.celery import BEAT_SCHEDULE
from members.models import Member, Specialist
from members.privacy import member_erase
from members.services import VisitLineInput, visit_cancel, visit_refund
from tests.conftest import moscow
from tests.factories import LocationFactory, MemberFactory

ON = date(2025, 6, 10)
# Statements of one run, whatever the number of members: savepoint, delete,
# count, upsert, categories delete, categories upsert, release.
QUERIES = 7


@pytest.fixture
def visit(record_visit, service):
    """``visit(member, days_ago, amount=…, location=…, specialists=[…])``: a paid
    visit at noon ``days_ago`` days before ON, one line per specialist."""

    def make(member, days_ago=0, *, amount="1000", specialists=(None,), **kwargs):
        day = ON - timedelta(days=days_ago)
        kwargs.setdefault("paid_at", moscow(day.year, day.month, day.day, 12, 0))
        lines = [VisitLineInput(service=service, specialist=s) for s in specialists]
        return record_visit(member, lines=lines, amount_paid=amount, **kwargs)

    return make


def score(member) -> MemberScore:
    return MemberScore.objects.get(member=member)


def rows() -> list[dict]:
    return list(MemberScore.objects.order_by("member_id").values())


def test_quintiles_and_top_percent_of_ten_members(visit):
    # Member k: k + 1 visits of 100.00, the last one k days ago. The most
    # recent are the ones with fewest visits and least spend.
    members = MemberFactory.create_batch(10)
    for k, member in enumerate(members):
        for extra in range(k + 1):
            visit(member, k + extra * 20, amount="100")

    result = scores_refresh(ON)

    assert (result.on, result.scored, result.written, result.deleted) == (
        ON,
        10,
        10,
        0,
    )
    got = [
        (s.r_score, s.f_score, s.m_score, s.visits_12m, s.spend_12m, s.recency_days)
        for s in map(score, members)
    ]
    assert got == [
        (5 - k // 2, k // 2 + 1, k // 2 + 1, k + 1, Decimal(100 * (k + 1)), k)
        for k in range(10)
    ]
    # Rank by spend, highest first: 100 × (rank − 1) / 10.
    assert [score(m).spend_top_percent for m in members] == [
        Decimal(90 - 10 * k) for k in range(10)
    ]
    assert all(score(m).computed_on == ON for m in members)


def test_equal_spend_shares_the_top_percent(visit):
    a, b, c, d = MemberFactory.create_batch(4)
    visit(a, 1, amount="500")
    visit(b, 2, amount="500")
    visit(c, 3, amount="200")
    visit(d, 4, amount="100")

    scores_refresh(ON)

    assert [score(m).spend_top_percent for m in (a, b, c, d)] == [
        Decimal("0"),
        Decimal("0"),
        Decimal("50"),
        Decimal("75"),
    ]


def test_members_without_a_visit_in_12_months_get_zeros(visit, location):
    never = MemberFactory()
    long_ago = MemberFactory()
    visit(long_ago, 400)
    recent = MemberFactory()
    visit(recent, 3)

    scores_refresh(ON)

    s = score(never)
    assert (s.recency_days, s.visits_12m, s.spend_12m) == (None, 0, Decimal("0"))
    assert (s.r_score, s.f_score, s.m_score) == (0, 0, 0)
    assert s.spend_top_percent == Decimal("100")
    assert (s.main_location_id, s.favourite_specialist_id) == (None, None)
    s = score(long_ago)
    assert (s.recency_days, s.visits_12m, s.r_score, s.m_score) == (400, 0, 0, 0)
    assert s.spend_top_percent == Decimal("100")
    assert s.main_location_id == location.pk  # over all history
    s = score(recent)
    assert (s.r_score, s.f_score, s.m_score, s.spend_top_percent) == (1, 1, 1, 0)


def test_window_is_the_365_days_ending_on_the_date(visit, member):
    visit(member, paid_at=moscow(2024, 6, 11, 0, 0))  # first moment of the window
    visit(member, paid_at=moscow(2024, 6, 10, 23, 59))  # just before it

    scores_refresh(ON)

    assert (score(member).visits_12m, score(member).recency_days) == (1, 364)


def test_recency_counts_business_days(visit):
    late = MemberFactory()
    visit(late, paid_at=moscow(2025, 6, 9, 23, 30))  # 20:30 UTC on the 9th
    early = MemberFactory()
    visit(early, paid_at=moscow(2025, 6, 10, 0, 30))  # 21:30 UTC on the 9th

    scores_refresh(ON)

    assert (score(late).recency_days, score(early).recency_days) == (1, 0)


def test_main_location_has_most_visits_ties_to_the_latest(visit):
    a, b, c = (LocationFactory() for _ in range(3))
    tie = MemberFactory()
    visit(tie, 50, location=a)
    visit(tie, 40, location=b)
    visit(tie, 30, location=b)
    visit(tie, 20, location=a)
    visit(tie, 10, location=c)
    most = MemberFactory()
    visit(most, 500, location=a)
    visit(most, 400, location=a)
    visit(most, 1, location=b)

    scores_refresh(ON)

    assert score(tie).main_location_id == a.pk
    assert score(most).main_location_id == a.pk


def test_favourite_specialist_has_most_lines_ties_to_the_latest(visit, location):
    olga, ivan, petr = (
        Specialist.objects.create(name=n, code=n.lower())
        for n in ("Olga", "Ivan", "Petr")
    )
    for specialist in (olga, ivan, petr):
        specialist.locations.add(location)
    tie = MemberFactory()
    visit(tie, 30, specialists=[olga, olga])
    visit(tie, 20, specialists=[ivan, None])
    visit(tie, 10, specialists=[ivan])
    most = MemberFactory()
    visit(most, 30, specialists=[petr, petr, petr])
    visit(most, 1, specialists=[olga, ivan])
    nobody = MemberFactory()
    visit(nobody, 5)

    scores_refresh(ON)

    assert score(tie).favourite_specialist_id == ivan.pk
    assert score(most).favourite_specialist_id == petr.pk
    assert score(nobody).favourite_specialist_id is None


def test_cancelled_and_refunded_visits_do_not_count(visit, location):
    other = LocationFactory()
    member = MemberFactory()
    visit(member, 100, amount="300")
    visit_cancel(visit=visit(member, 5, amount="700", location=other))
    visit_refund(visit=visit(member, 3, amount="900", location=other))
    cancelled_only = MemberFactory()
    visit_cancel(visit=visit(cancelled_only, 2))

    scores_refresh(ON)

    s = score(member)
    assert (s.visits_12m, s.spend_12m, s.recency_days) == (1, Decimal("300"), 100)
    assert s.main_location_id == location.pk
    s = score(cancelled_only)
    assert (s.visits_12m, s.recency_days, s.r_score, s.main_location_id) == (
        0,
        None,
        0,
        None,
    )


def test_partial_refunds_are_taken_off_the_spend(visit, member):
    from members.services.refunds import visit_refund_partial

    paid = visit(member, 5, amount="3000", specialists=[None, None])
    visit_refund_partial(visit=paid, lines=[(paid.lines.first(), 1)], key="r1")

    scores_refresh(ON)

    assert score(member).spend_12m == Decimal("1500")


def test_a_past_date_ignores_later_visits(visit):
    a, b = MemberFactory.create_batch(2)
    visit(a, 40, amount="100")
    visit(a, 10, amount="3000")  # after the past date
    visit(b, 35, amount="200")
    visit(b, 30, amount="200", location=LocationFactory())
    visit(b, 29, amount="200", location=LocationFactory())
    later = MemberFactory()
    visit(later, 1)
    past = ON - timedelta(days=30)

    result = scores_refresh(past)

    assert result.on == past
    s = score(a)
    assert (s.computed_on, s.recency_days, s.visits_12m, s.spend_12m) == (
        past,
        10,
        1,
        Decimal("100"),
    )
    assert (s.m_score, s.spend_top_percent) == (1, Decimal("50"))
    assert score(b).visits_12m == 2
    assert score(b).main_location_id != score(a).main_location_id
    assert score(later).visits_12m == 0
    assert score(later).recency_days is None


def test_running_again_changes_nothing(visit):
    members = MemberFactory.create_batch(3)
    for k, member in enumerate(members):
        visit(member, k, amount=str(100 * (k + 1)))
    scores_refresh(ON)
    before = rows()

    result = scores_refresh(ON)

    assert (result.scored, result.written, result.deleted) == (3, 0, 0)
    assert rows() == before


def test_a_new_date_rewrites_and_a_new_visit_is_counted(visit, member):
    visit(member, 3)
    scores_refresh(ON - timedelta(days=1))
    visit(member, 0, amount="2000")

    result = scores_refresh(ON)

    assert result.written == 1
    s = score(member)
    assert (s.computed_on, s.visits_12m, s.recency_days) == (ON, 2, 0)


def test_erased_members_are_dropped_and_blocked_ones_kept(visit):
    kept, gone, blocked = MemberFactory.create_batch(3)
    for member in (kept, gone, blocked):
        visit(member, 1)
    Member.objects.filter(pk=blocked.pk).update(status=Member.Status.BLOCKED)
    scores_refresh(ON)
    member_erase(member=gone)

    result = scores_refresh(ON)

    assert (result.scored, result.deleted) == (2, 1)
    assert set(MemberScore.objects.values_list("member_id", flat=True)) == {
        kept.pk,
        blocked.pk,
    }
    assert result.categories_deleted == 1
    assert set(MemberCategory.objects.values_list("member_id", flat=True)) == {
        kept.pk,
        blocked.pk,
    }


@pytest.mark.parametrize("count", [3, 30])
def test_query_count_does_not_grow_with_members(
    visit, location, count, django_assert_num_queries
):
    specialist = Specialist.objects.create(name="Olga", code="olga")
    specialist.locations.add(location)
    for k, member in enumerate(MemberFactory.create_batch(count)):
        visit(member, k, specialists=[specialist])
    MemberFactory()  # without visits

    with django_assert_num_queries(QUERIES):
        result = scores_refresh(ON)

    assert result.scored == MemberScore.objects.count() == count + 1
    assert result.categories_written == MemberCategory.objects.count() == count


def test_default_date_is_today_in_the_business_zone(visit, member):
    visit(member, 2)

    assert scores_refresh().on == ON


def test_task_runs_for_the_date_given(visit, member):
    visit(member, 2)

    result = scores_refresh_task("2025-06-01")

    assert {k: result[k] for k in ("on", "scored", "written", "deleted")} == {
        "on": "2025-06-01",
        "scored": 1,
        "written": 1,
        "deleted": 0,
    }
    assert score(member).computed_on == date(2025, 6, 1)
    assert scores_refresh_task()["on"] == ON.isoformat()


def test_beat_runs_the_task_nightly():
    spec = BEAT_SCHEDULE["campaigns: refresh member scores"]

    assert spec["task"] == scores_refresh_task.name
    assert spec["schedule"] == crontab(hour=2, minute=40)
    assert spec["description"]


def test_command_prints_a_summary(visit, member, capsys):
    visit(member, 2)

    call_command("scores_refresh", "--date", "2025-06-09")

    out = capsys.readouterr().out
    assert "2025-06-09" in out
    assert "1 member(s) scored, 1 row(s) written, 0 deleted" in out
    assert score(member).computed_on == date(2025, 6, 9)


@pytest.mark.parametrize("value", ["2025-06-11", "10.06.2025"])
def test_command_refuses_a_bad_or_future_date(db, value):
    with pytest.raises(CommandError):
        call_command("scores_refresh", "--date", value)


# --- Categories tried (MemberCategory) --------------------------------------


@pytest.fixture
def tried(record_visit):
    """``tried(member, days_ago, *services)``: a paid visit at noon ``days_ago``
    days before ON, one line per service."""

    def make(member, days_ago, *services, **kwargs):
        day = ON - timedelta(days=days_ago)
        return record_visit(
            member,
            lines=[VisitLineInput(service=s) for s in services],
            paid_at=moscow(day.year, day.month, day.day, 12, 0),
            **kwargs,
        )

    return make


def categories(member) -> dict:
    """``{category_id: (first_at, last_at, visits)}`` of ``member``."""
    return {
        row.category_id: (row.first_at, row.last_at, row.visits)
        for row in MemberCategory.objects.filter(member=member)
    }


def noon(days_ago):
    day = ON - timedelta(days=days_ago)
    return moscow(day.year, day.month, day.day, 12, 0)


def test_categories_tried_with_first_last_and_visits(
    tried, member, service, addon, facial, manicure
):
    from members.services.refunds import visit_refund_partial

    tried(member, 400, service)  # before the 12 months: all history counts
    tried(member, 30, service, addon, facial)  # two lines of one category
    tried(member, 10, facial, facial)
    paid = tried(member, 5, manicure, service)
    nails_line = paid.lines.get(service=manicure)
    visit_refund_partial(visit=paid, lines=[(nails_line, 1)], key="r1")
    visit_cancel(visit=tried(member, 2, manicure))
    other = MemberFactory()
    tried(other, 1, manicure)
    MemberFactory()  # without visits

    result = scores_refresh(ON)

    assert categories(member) == {
        service.category_id: (noon(400), noon(5), 3),
        facial.category_id: (noon(30), noon(10), 2),
    }
    assert categories(other) == {manicure.category_id: (noon(1), noon(1), 1)}
    assert (result.categories_written, result.categories_deleted) == (3, 0)
    assert list(members_with_category([manicure.category_id])) == [
        {"member_id": other.pk}
    ]
    assert sorted(
        row["member_id"]
        for row in members_with_category([facial.category_id, manicure.category_id])
    ) == sorted([member.pk, other.pk])


def test_a_refunded_visit_takes_its_category_out(tried, member, service, facial):
    tried(member, 20, service)
    facial_visit = tried(member, 10, facial, service)
    scores_refresh(ON)
    assert set(categories(member)) == {service.category_id, facial.category_id}

    visit_refund(visit=facial_visit)
    result = scores_refresh(ON)

    assert categories(member) == {service.category_id: (noon(20), noon(20), 1)}
    assert (result.categories_written, result.categories_deleted) == (1, 1)


def test_a_past_date_ignores_later_category_visits(tried, member, service, facial):
    tried(member, 40, service)
    tried(member, 10, service, facial)  # after the past date
    scores_refresh(ON)
    past = ON - timedelta(days=30)

    result = scores_refresh(past)

    assert categories(member) == {service.category_id: (noon(40), noon(40), 1)}
    assert (result.categories_written, result.categories_deleted) == (1, 1)


def test_running_again_writes_no_category_row(tried, service, facial):
    for k, member in enumerate(MemberFactory.create_batch(3)):
        tried(member, k, service, *[facial] * k)
    first = scores_refresh(ON)
    before = list(MemberCategory.objects.order_by("pk").values())

    result = scores_refresh(ON)

    assert (first.categories_written, first.categories_deleted) == (5, 0)
    assert (result.categories_written, result.categories_deleted) == (0, 0)
    assert list(MemberCategory.objects.order_by("pk").values()) == before
