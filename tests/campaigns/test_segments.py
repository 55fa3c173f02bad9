"""Segments: each condition on members built for it, AND/OR groups, the
program's time zone at the day boundaries, the built-in segments, the
promotion's segment condition, the editor's live count and the program
document.

The clock is Tuesday 10 June 2025, 15:00 Moscow time (``conftest``).
"""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from campaigns import segments
from campaigns.models import Segment
from campaigns.scores import scores_refresh
from campaigns.segment_text import describe
from campaigns.segments import DefinitionError, definition_q
from members.models import Member
from members.services import VisitLineInput
from rewards.program_io import program_export, program_import
from tests.campaigns.conftest import promo_benefits
from tests.conftest import moscow
from tests.factories import LocationFactory, MemberFactory
from tests.factories.campaigns import PromotionFactory

pytestmark = pytest.mark.django_db


def rule(field, cmp, value=None):
    return {"field": field, "cmp": cmp, "value": value}


def all_of(*rules):
    return {"op": "and", "rules": list(rules)}


def any_of(*rules):
    return {"op": "or", "rules": list(rules)}


def members_of(definition) -> set[int]:
    return set(segments.segment_members(definition).values_list("pk", flat=True))


# --- days since, in the program's time zone --------------------------------------


def test_days_since_the_last_visit_count_local_days(record_visit):
    # 10 June − 90 days = 12 March: a visit late that evening, Moscow time, is
    # 90 days ago (it is already 13 March in UTC+3 only after 21:00 UTC).
    ninety = MemberFactory()
    record_visit(ninety, paid_at=moscow(2025, 3, 12, 23, 59))
    eighty_nine = MemberFactory()
    record_visit(eighty_nine, paid_at=moscow(2025, 3, 13, 0, 0))
    never = MemberFactory()

    assert members_of(rule("last_visit_days", "gte", 90)) == {ninety.pk}
    assert members_of(rule("last_visit_days", "lte", 89)) == {eighty_nine.pk}
    assert members_of(rule("last_visit_days", "eq", 90)) == {ninety.pk}
    assert never.pk not in members_of(rule("last_visit_days", "gte", 0))


def test_new_members_by_their_first_visit(record_visit):
    new = MemberFactory()
    record_visit(new, paid_at=moscow(2025, 5, 20, 12, 0))
    old = MemberFactory()
    record_visit(old, paid_at=moscow(2025, 1, 20, 12, 0))
    record_visit(old, paid_at=moscow(2025, 6, 1, 12, 0))

    assert members_of(rule("first_visit_days", "lte", 30)) == {new.pk}


# --- windows of visits and spend -------------------------------------------------


@pytest.fixture
def three_clients(record_visit):
    """often: 3 visits in the last 30 days (9,000.00); once: 1 (3,000.00), and
    one 40 days ago; never: no visit."""
    often, once, never = MemberFactory(), MemberFactory(), MemberFactory()
    for day in (1, 5, 9):
        record_visit(often, paid_at=moscow(2025, 6, day, 12, 0))
    record_visit(once, paid_at=moscow(2025, 6, 2, 12, 0))
    record_visit(once, paid_at=moscow(2025, 5, 1, 12, 0))
    return often, once, never


@pytest.mark.parametrize(
    ("cmp", "amount", "expected"),
    [
        ("gte", 3, {"often"}),
        ("gte", 1, {"often", "once"}),
        ("lte", 1, {"once", "never"}),
        ("lte", 0, {"never"}),
        ("eq", 1, {"once"}),
        ("eq", 0, {"never"}),
    ],
)
def test_visits_in_a_window(three_clients, cmp, amount, expected):
    names = dict(zip(("often", "once", "never"), three_clients, strict=True))
    got = members_of(rule("visits_in_days", cmp, {"days": 30, "amount": amount}))
    assert got == {names[n].pk for n in expected}


def test_spend_in_a_window_is_money_paid_less_refunds(three_clients):
    often, once, _ = three_clients
    window = {"days": 30, "amount": "9000.00"}
    assert members_of(rule("spend_in_days", "gte", window)) == {often.pk}
    window = {"days": 60, "amount": "6000"}
    assert members_of(rule("spend_in_days", "gte", window)) == {often.pk, once.pk}


# --- who the member is -----------------------------------------------------------


def test_tier_in_and_not_in(regular, member_as):
    gold = member_as("gold")
    silver = member_as("silver")
    gold_tier = gold.wallet.tier
    assert members_of(rule("tier", "in", [gold_tier.pk])) == {gold.pk}
    assert members_of(rule("tier", "not_in", [gold_tier.pk])) == {silver.pk, regular.pk}


def test_categories_visited_and_never_tried(record_visit, catalogue):
    face_client = MemberFactory()
    record_visit(face_client, lines=[VisitLineInput(service=catalogue["facial"])])
    massage_client = MemberFactory()
    record_visit(massage_client)  # the default line: a massage
    face = catalogue["facial"].category
    # All members: as of the nightly table; one member (a checkout): live.
    assert members_of(rule("visited_category", "in", [face.pk])) == set()
    assert segments.member_segments(
        face_client.pk, {1: rule("visited_category", "in", [face.pk])}
    ) == {1}
    scores_refresh()

    assert members_of(rule("visited_category", "in", [face.pk])) == {face_client.pk}
    never = members_of(rule("never_tried_category", "in", [face.pk]))
    assert massage_client.pk in never and face_client.pk not in never


def test_consent_registration_location_and_status(location):
    other = LocationFactory(code="other")
    sms = MemberFactory(consent_sms=True, registration_location=location)
    push = MemberFactory(consent_push=True, registration_location=other)
    MemberFactory(consent_sms=True, status=Member.Status.BLOCKED)

    assert members_of(rule("consent", "in", ["sms"])) == {sms.pk}
    assert members_of(rule("consent", "in", ["sms", "push"])) == {sms.pk, push.pk}
    assert members_of(rule("registration_location", "in", [other.pk])) == {push.pk}


@pytest.mark.parametrize(
    ("today", "birthday", "days", "inside"),
    [
        (date(2025, 12, 28), date(1990, 1, 2), 7, True),  # across the new year
        (date(2025, 12, 28), date(1990, 1, 5), 7, False),
        (date(2025, 2, 27), date(1992, 2, 29), 1, True),  # the 28th in a common year
        (date(2024, 2, 27), date(1992, 2, 29), 1, False),  # a leap year has the 29th
        (date(2024, 2, 27), date(1992, 2, 29), 2, True),
        (date(2025, 6, 10), date(1985, 6, 10), 0, True),  # today
    ],
)
def test_birthday_within_days(today, birthday, days, inside):
    member = MemberFactory(birthday=birthday)
    with time_machine.travel(
        moscow(today.year, today.month, today.day, 12), tick=False
    ):
        got = members_of(rule("birthday_in_days", "lte", days))
    assert (member.pk in got) is inside


def test_birthday_this_month():
    june = MemberFactory(birthday=date(1990, 6, 30))
    MemberFactory(birthday=date(1990, 7, 1))
    assert members_of(rule("birthday_this_month", "eq", True)) == {june.pk}


def test_points_balance(record_visit):
    earner = MemberFactory()
    record_visit(earner)  # earns points at the program's rate
    MemberFactory()
    assert members_of(rule("points_balance", "gte", 1)) == {earner.pk}


# --- the tree --------------------------------------------------------------------


def test_and_or_groups(three_clients, location):
    often, once, never = three_clients
    Member.objects.filter(pk=never.pk).update(consent_email=True)
    definition = any_of(
        all_of(
            rule("visits_in_days", "gte", {"days": 30, "amount": 1}),
            rule("visits_count", "gte", 3),
        ),
        rule("consent", "in", ["email"]),
    )
    assert members_of(definition) == {often.pk, never.pk}
    assert members_of({}) == {often.pk, once.pk, never.pk}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (rule("shoe_size", "gte", 40), "Unknown condition"),
        (rule("tier", "gte", [1]), "does not apply"),
        (rule("visits_count", "gte", "many"), "is not a number"),
        (rule("visits_count", "gte", -1), "is not a number"),
        (rule("last_visit_days", "gte", 1.5), "is not a number of days"),
        (rule("tier", "in", []), "Choose at least one"),
        (rule("visits_in_days", "gte", 5), "number of days and the amount"),
        ({"op": "xor", "rules": []}, "not in the expected form"),
        ([1, 2], "not in the expected form"),
    ],
)
def test_rules_that_cannot_be_evaluated_say_why(definition, message):
    with pytest.raises(DefinitionError, match=message):
        definition_q(definition)


def test_describe_puts_the_rules_in_words(member_as):
    gold = member_as("gold").wallet.tier
    text = describe(
        any_of(
            all_of(rule("last_visit_days", "gte", 90), rule("tier", "in", [gold.pk])),
            rule("birthday_this_month", "eq", True),
        )
    )
    assert text == (
        f"(days since the last visit at least 90 and tier is one of {gold.name}) "
        "or birthday this month"
    )
    assert describe({}) == "all active members"


# --- built-in segments -----------------------------------------------------------


def test_the_builtin_segments_exist_and_evaluate(record_visit):
    keys = set(Segment.objects.exclude(builtin=None).values_list("builtin", flat=True))
    assert keys == {"new", "regular", "at_risk", "lost", "vip"}

    lost = MemberFactory()
    record_visit(lost, paid_at=moscow(2025, 1, 10, 12, 0))
    new = MemberFactory()
    record_visit(new, paid_at=moscow(2025, 6, 1, 12, 0))
    at_risk = MemberFactory()
    record_visit(at_risk, paid_at=moscow(2025, 2, 1, 12, 0))
    record_visit(at_risk, paid_at=moscow(2025, 3, 20, 12, 0))
    by_key = {s.builtin: s for s in Segment.objects.exclude(builtin=None)}

    assert members_of(by_key["lost"].definition) == {lost.pk}
    assert members_of(by_key["new"].definition) == {new.pk}
    assert members_of(by_key["at_risk"].definition) == {at_risk.pk}


# --- the promotion's condition ---------------------------------------------------


def test_a_segment_promotion_applies_to_its_members_only(quote, regular, member_as):
    gold = member_as("gold")
    segment = Segment.objects.create(
        name="Gold clients", definition=rule("tier", "in", [gold.wallet.tier_id])
    )
    PromotionFactory(name="Gold week", percent=Decimal("20"), segments=[segment])

    # 20 % of what gold's 15 % left of 3,000.00
    assert promo_benefits(quote(gold)) == [("Gold week", Decimal("510.00"))]
    assert promo_benefits(quote(regular)) == []


def test_member_segments_is_one_query(django_assert_num_queries, member_as):
    gold = member_as("gold")
    definitions = {
        1: rule("tier", "in", [gold.wallet.tier_id]),
        2: rule("visits_in_days", "gte", {"days": 30, "amount": 5}),
        3: rule("consent", "in", ["sms"]),
    }
    with django_assert_num_queries(1):
        got = segments.member_segments(gold.pk, definitions)
    assert got == {1}


# --- the editor ------------------------------------------------------------------


def test_the_live_count_answers_with_a_count_and_a_sample(
    manager_client, three_clients
):
    often, once, never = three_clients
    url = reverse("admin:campaigns_segment_count")
    body = {"definition": rule("visits_in_days", "gte", {"days": 30, "amount": 1})}
    response = manager_client.post(
        url, json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2
    assert {row["id"] for row in data["sample"]} == {often.pk, once.pk}
    assert "phone" not in data["sample"][0]

    bad = manager_client.post(
        url, json.dumps({"definition": rule("tier", "gte", 1)}),
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_segment"


def test_the_editor_saves_valid_rules_and_refuses_others(manager_client, three_clients):
    add = reverse("admin:campaigns_segment_add")
    page = manager_client.get(add)
    assert page.status_code == 200
    assert b"sg-catalogue" in page.content

    refused = manager_client.post(
        add, {"name": "Broken", "definition": json.dumps(rule("tier", "gte", 1))}
    )
    assert refused.status_code == 200
    assert not Segment.objects.filter(name="Broken").exists()

    definition = rule("visits_count", "gte", 3)
    saved = manager_client.post(
        add, {"name": "Thrice", "description": "", "definition": json.dumps(definition)}
    )
    assert saved.status_code == 302
    segment = Segment.objects.get(name="Thrice")
    assert segment.definition == definition
    assert segment.last_count == 1  # counted on save


def test_builtin_and_used_segments_cannot_be_deleted(manager_client):
    builtin = Segment.objects.get(builtin="lost")
    used = Segment.objects.create(name="Used", definition={})
    PromotionFactory(segments=[used])
    free = Segment.objects.create(name="Free", definition={})

    for segment in (builtin, used):
        url = reverse("admin:campaigns_segment_delete", args=[segment.pk])
        assert manager_client.post(url, {"post": "yes"}).status_code == 403
    url = reverse("admin:campaigns_segment_delete", args=[free.pk])
    assert manager_client.post(url, {"post": "yes"}).status_code == 302
    assert set(Segment.objects.filter(name__in=["Used", "Free"]).values_list(
        "name", flat=True)) == {"Used"}  # fmt: skip


def test_the_front_desk_has_no_segments(front_desk_client):
    url = reverse("admin:campaigns_segment_changelist")
    assert front_desk_client.get(url).status_code == 403


# --- the program document --------------------------------------------------------


def test_segments_travel_by_codes(member_as):
    gold = member_as("gold").wallet.tier
    Segment.objects.create(name="Gold", definition=rule("tier", "in", [gold.pk]))
    document = program_export()
    row = next(r for r in document["segments"] if r["name"] == "Gold")
    assert row["definition"]["value"] == [gold.code]

    Segment.objects.filter(name="Gold").update(definition={})
    program_import(document)
    assert Segment.objects.get(name="Gold").definition == rule("tier", "in", [gold.pk])

    row["definition"]["value"] = ["no-such-tier"]
    with pytest.raises(Exception, match="no-such-tier"):
        program_import(document)


def test_a_past_date_counts_days_from_that_date(record_visit):
    member = MemberFactory()
    record_visit(member, paid_at=moscow(2025, 6, 1, 12, 0))
    today = date(2025, 6, 10)
    q_then = definition_q(rule("last_visit_days", "gte", 9), today)
    q_earlier = definition_q(
        rule("last_visit_days", "gte", 9), today - timedelta(days=1)
    )
    assert Member.objects.filter(q_then).exists()
    assert not Member.objects.filter(q_earlier).exists()


def test_who_may_only_look_reads_the_rules_in_words(analyst_client):
    lost = Segment.objects.get(builtin="lost")
    page = analyst_client.get(reverse("admin:campaigns_segment_change", args=[lost.pk]))
    assert page.status_code == 200
    assert "days since the last visit at least 120" in page.content.decode()
    assert b'"field"' not in page.content
