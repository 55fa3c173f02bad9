"""GET me/referrals, me/referrals/invites and the referral QR images over HTTP:
the code made on first use, the link, the terms, the stats, the member's own
invites only, a fixed number of queries, and who may call them."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from members import access, privacy
from members.models import Member
from members.qr import qr_png, qr_svg_document
from members.services import member_update, visit_cancel
from referrals.models import Referral, ReferralCode, ReferralProgram
from tests.conftest import moscow
from tests.referrals.conftest import member_new, referral_program

pytestmark = pytest.mark.django_db

T0 = moscow(2025, 6, 2, 12, 0)
SUMMARY = reverse("api-me-referrals")
INVITES = reverse("api-me-referral-invites")
PNG = reverse("api-me-referrals-png")
SVG = reverse("api-me-referrals-svg")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def app(member_api, referrer):
    """The referrer's app, signed in."""
    return member_api(referrer)


def friends_in_every_state(referrer, signup, first_visit, clock):
    """Four friends of ``referrer``, a minute apart: rewarded, annulled,
    registered, held (signed up from the referrer's device)."""
    access.token_issue(member=referrer, device_id="olgas-phone")
    rewarded = signup(referrer.code, first_name="Boris", last_name="Ivanov")
    first_visit(rewarded)
    clock.shift(60)
    annulled = signup(referrer.code, first_name="Vera", last_name="")
    visit_cancel(visit=first_visit(annulled), reason="mistake")
    clock.shift(60)
    registered = signup(referrer.code, first_name="Gleb", last_name="Orlov")
    clock.shift(60)
    held = signup(
        referrer.code, first_name="Dina", last_name="Sokol", device_id="olgas-phone"
    )
    return rewarded, annulled, registered, held


# --- The summary ----------------------------------------------------------------


def test_the_first_call_makes_the_code_and_answers_the_terms(member_api, member):
    # Given a member who never asked for their code
    assert not ReferralCode.objects.filter(member=member).exists()

    response = member_api(member).get(SUMMARY)

    # Then a code is made and everything the invite screen needs comes back
    assert response.status_code == 200, response.json()
    body = response.json()
    code = ReferralCode.objects.get(member=member).code
    assert body == {
        "code": code,
        "link": f"http://testserver/r/{code}",
        "qr_png_url": "http://testserver/api/v1/me/referrals/qr.png",
        "qr_svg_url": "http://testserver/api/v1/me/referrals/qr.svg",
        "program": {
            "active": True,
            "referrer_reward": {
                "kind": "points",
                "value": "500.00",
                "text": "500 points",
            },
            "friend_reward": {
                "kind": "points",
                "value": "500.00",
                "text": "500 points",
            },
            "min_first_visit_amount": "0.00",
            "bonus_validity_days": 60,
            "monthly_cap": 10,
            "stacks_with_first_visit": False,
        },
        "stats": {
            "invited": 0,
            "rewarded": 0,
            "points_earned": 0,
            "rewarded_this_month": 0,
            "cap_remaining": 10,
        },
        "invites": [],
    }


def test_the_code_stays_the_same(app, referrer):
    first = app.get(SUMMARY).json()["code"]
    second = app.get(SUMMARY).json()["code"]

    assert first == second == referrer.code
    assert ReferralCode.objects.filter(member=referrer).count() == 1


def test_the_link_follows_the_link_template(app, referrer, settings):
    settings.REFERRAL_LINK_TEMPLATE = "https://app.example.com/join?code={code}"

    body = app.get(SUMMARY).json()

    assert body["link"] == f"https://app.example.com/join?code={referrer.code}"


def test_the_terms_in_words_follow_the_program(app):
    referral_program(
        is_active=False,
        referrer_reward_kind=ReferralProgram.RewardKind.PERCENT,
        referrer_reward_value=Decimal("7.5"),
        friend_reward_value=Decimal("1"),
        min_first_visit_amount=Decimal("1500"),
        bonus_validity_days=30,
        monthly_cap=3,
        stacks_with_first_visit=True,
    )

    program = app.get(SUMMARY).json()["program"]

    assert program == {
        "active": False,
        "referrer_reward": {
            "kind": "percent",
            "value": "7.50",
            "text": "7.5% of the first paid visit in points",
        },
        "friend_reward": {"kind": "points", "value": "1.00", "text": "1 point"},
        "min_first_visit_amount": "1500.00",
        "bonus_validity_days": 30,
        "monthly_cap": 3,
        "stacks_with_first_visit": True,
    }


def test_the_terms_are_in_the_requests_language(app):
    body = app.get(SUMMARY, HTTP_ACCEPT_LANGUAGE="ru").json()

    assert body["program"]["friend_reward"]["text"] == "500 баллов"


def test_invites_and_stats_tell_what_each_friend_brought(
    app, referrer, signup, first_visit, clock
):
    rewarded, annulled, registered, held = friends_in_every_state(
        referrer, signup, first_visit, clock
    )

    body = app.get(SUMMARY).json()

    assert body["stats"] == {
        "invited": 4,
        "rewarded": 1,
        "points_earned": 500,
        "rewarded_this_month": 1,
        "cap_remaining": 9,
    }
    invites = body["invites"]
    # Newest first, each friend by first name and initial
    assert [i["friend"] for i in invites] == ["Dina S.", "Gleb O.", "Vera", "Boris I."]
    assert [(i["status"], i["reason"]) for i in invites] == [
        ("held", "suspicious"),
        ("registered", "signed_up"),
        ("annulled", "visit_cancelled"),
        ("rewarded", "rewarded"),
    ]
    assert [i["status_label"] for i in invites] == [
        "Held for review",
        "Registered",
        "Annulled",
        "Rewarded",
    ]
    assert invites[2]["reason_label"] == "First visit cancelled"
    # Only a reward still standing counts: the invites add up to points_earned
    assert [i["points"] for i in invites] == [0, 0, 0, 500]
    assert invites[3] == {
        "id": rewarded.referral_made.pk,
        "friend": "Boris I.",
        "status": "rewarded",
        "status_label": "Rewarded",
        "reason": "rewarded",
        "reason_label": "Rewards credited",
        "registered_at": "2025-06-02T12:00:00+03:00",
        "qualified_at": "2025-06-02T12:00:00+03:00",
        "rewarded_at": "2025-06-02T12:00:00+03:00",
        "points": 500,
    }
    assert invites[1]["qualified_at"] is None
    assert invites[1]["rewarded_at"] is None
    # Nothing that would tell the referrer how the hold was decided
    assert "hold_reasons" not in invites[0]
    assert "signup_device_id" not in invites[0]


def test_a_friend_who_erased_their_data_is_not_named(app, referrer, signup):
    friend = signup(referrer.code, first_name="Boris", last_name="Ivanov")
    privacy.member_erase(member=friend)

    invite = app.get(SUMMARY).json()["invites"][0]

    assert invite["friend"] == "Deleted account"
    assert "Boris" not in str(app.get(INVITES).json())


def test_the_summary_holds_only_the_newest_invites(
    app, referrer, signup, clock, monkeypatch, velocity_off
):
    monkeypatch.setattr("referrals.api.LATEST_INVITES", 2)
    for name in ("Anna", "Boris", "Vera"):
        signup(referrer.code, first_name=name, last_name="")
        clock.shift(60)

    body = app.get(SUMMARY).json()

    assert [i["friend"] for i in body["invites"]] == ["Vera", "Boris"]
    assert body["stats"]["invited"] == 3


def test_the_stats_count_this_months_rewards_against_the_cap(
    app, referrer, signup, first_visit, clock
):
    referral_program(monthly_cap=2)
    first_visit(signup(referrer.code))
    # A month later, another friend is rewarded
    clock.move_to(T0 + timedelta(days=31))

    first_visit(signup(referrer.code))

    stats = app.get(SUMMARY).json()["stats"]
    assert stats == {
        "invited": 2,
        "rewarded": 2,
        "points_earned": 1000,
        "rewarded_this_month": 1,
        "cap_remaining": 1,
    }


# --- Only one's own invites -----------------------------------------------------


def test_other_members_invites_never_appear(
    app, referrer, signup, member_api, velocity_off
):
    mine = signup(referrer.code, first_name="Boris", last_name="")
    other = member_new(first_name="Irina")
    other_app = member_api(other)
    other_code = other_app.get(SUMMARY).json()["code"]
    theirs = signup(other_code, first_name="Zoya", last_name="")

    summary = app.get(SUMMARY).json()
    listed = app.get(INVITES).json()

    assert [i["id"] for i in summary["invites"]] == [mine.referral_made.pk]
    assert [i["id"] for i in listed["results"]] == [mine.referral_made.pk]
    assert summary["stats"]["invited"] == 1
    assert other_code != referrer.code
    their_list = other_app.get(INVITES).json()
    assert [i["id"] for i in their_list["results"]] == [theirs.referral_made.pk]


def test_the_friend_does_not_see_the_referrers_invite(member_api, referrer, signup):
    friend = signup(referrer.code)

    body = member_api(friend).get(SUMMARY).json()

    assert body["invites"] == []
    assert body["stats"]["invited"] == 0
    assert body["code"] != referrer.code


# --- All invites, paginated -----------------------------------------------------


def test_all_invites_are_paginated_newest_first(
    app, referrer, signup, clock, velocity_off
):
    for name in ("Anna", "Boris", "Vera"):
        signup(referrer.code, first_name=name, last_name="")
        clock.shift(60)

    first = app.get(INVITES, {"page_size": 2}).json()
    second = app.get(INVITES, {"page_size": 2, "page": 2}).json()

    assert first["count"] == 3
    assert [i["friend"] for i in first["results"]] == ["Vera", "Boris"]
    assert first["next"].endswith("page=2&page_size=2")
    assert first["previous"] is None
    assert [i["friend"] for i in second["results"]] == ["Anna"]
    assert second["next"] is None
    assert set(first["results"][0]) == {
        "id",
        "friend",
        "status",
        "status_label",
        "reason",
        "reason_label",
        "registered_at",
        "qualified_at",
        "rewarded_at",
        "points",
    }


def test_a_page_past_the_last_is_a_404(app):
    response = app.get(INVITES, {"page": 2})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Queries --------------------------------------------------------------------


@pytest.mark.parametrize("friends", [0, 30])
def test_the_summary_costs_a_fixed_number_of_queries(
    app,
    referrer,
    signup,
    first_visit,
    velocity_off,
    friends,
    django_assert_num_queries,
):
    for i in range(friends):
        friend = signup(referrer.code, first_name=f"Friend{i}")
        if i % 3 == 0:
            first_visit(friend)
    app.get(SUMMARY)  # the token's last use is recorded once a while

    # The stamps (the token is cached), the member, the code, the stats (one
    # aggregate and the program), the program for the terms, the invites with
    # their friends
    with django_assert_num_queries(7):
        response = app.get(SUMMARY)

    assert len(response.json()["invites"]) == friends


@pytest.mark.parametrize("friends", [0, 30])
def test_the_invites_page_costs_a_fixed_number_of_queries(
    app, referrer, signup, velocity_off, friends, django_assert_num_queries
):
    for i in range(friends):
        signup(referrer.code, first_name=f"Friend{i}")
    app.get(SUMMARY)

    # The stamps (the token is cached), the member, the count, the page with
    # its friends (none without a count)
    with django_assert_num_queries(4 if friends else 3):
        response = app.get(INVITES, {"page_size": 100})

    assert response.json()["count"] == friends


# --- QR images ------------------------------------------------------------------


def test_the_png_is_the_qr_of_the_link(app, referrer):
    response = app.get(PNG)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response.content.startswith(PNG_MAGIC)
    assert response.content == qr_png(f"http://testserver/r/{referrer.code}")


def test_the_svg_is_the_qr_of_the_link(app, referrer, settings):
    settings.REFERRAL_LINK_TEMPLATE = "https://app.example.com/join?code={code}"

    response = app.get(SVG, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<?xml")
    assert b"<svg" in response.content
    link = f"https://app.example.com/join?code={referrer.code}"
    assert response.content == qr_svg_document(link)


def test_the_qr_makes_the_code_on_first_use(member_api, member):
    response = member_api(member).get(PNG)

    assert response.status_code == 200
    assert ReferralCode.objects.filter(member=member).exists()


# --- Who may call ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "accept"),
    [
        (SUMMARY, "application/json"),
        (INVITES, "application/json"),
        # The images answer errors in JSON whatever the app asked for
        (PNG, "image/png"),
        (SVG, "image/svg+xml"),
    ],
)
def test_without_a_token_it_is_a_401(api_client, url, accept):
    response = api_client.get(url, HTTP_ACCEPT=accept)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("url", [SUMMARY, INVITES, PNG])
def test_a_revoked_token_is_a_401(app, url):
    access.token_revoke(token=app.token)

    response = app.get(url)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_a_blocked_member_cannot_read_their_referrals(app, referrer):
    member_update(member=referrer, status=Member.Status.BLOCKED)

    response = app.get(SUMMARY)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_an_erased_member_cannot_read_their_referrals(app, referrer):
    privacy.member_erase(member=referrer)

    response = app.get(SUMMARY)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert not ReferralCode.objects.filter(member=referrer).exists()


def test_a_pos_key_is_not_a_member(pos_api, location):
    response = pos_api(location).get(SUMMARY)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_only_get_is_allowed(app):
    response = app.post(SUMMARY, {})

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert Referral.objects.count() == 0
