"""GET rewards (the catalogue, with "can I redeem it") and POST rewards/{id}/redeem
(idempotent by the Idempotency-Key header), clock fixed."""

from datetime import timedelta

import pytest
import time_machine

from rewards.models import LedgerEntry, Reward, Voucher
from rewards.services import reward_redeem
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import balances, give_points, state_of, tier, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(member, member_api):
    return member_api(member)


def redeem(client, reward_id, key="key-1", **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(f"/api/v1/rewards/{reward_id}/redeem", **extra)


def catalogue(client, **params) -> dict:
    response = client.get("/api/v1/rewards", params)
    assert response.status_code == 200, response.content
    return {r["name"]: r for r in response.json()["results"]}


# --- GET rewards -----------------------------------------------------------


def test_the_catalogue_says_what_the_member_can_redeem_and_why_not(api, member):
    # Given 500 points on Silver and a catalogue with every kind of obstacle
    give_points(member, 500)
    tier_set(member, "silver")
    RewardFactory(name="Affordable", points_cost=300, stock=5)
    RewardFactory(name="Too dear", points_cost=600)
    RewardFactory(name="Gold only", points_cost=100, min_tier=tier("gold"))
    RewardFactory(name="Silver only", points_cost=100, min_tier=tier("silver"))
    RewardFactory(name="Sold out", points_cost=100, stock=0)
    once = RewardFactory(name="Once", points_cost=100, per_member_limit=1)
    reward_redeem(member=member, reward=once, idempotency_key="earlier")

    rows = catalogue(api)

    # Then each reward says whether it can be redeemed, and the redeem error if not
    reasons = {name: (r["can_redeem"], r["reason"]) for name, r in rows.items()}
    assert reasons == {
        "Affordable": (True, None),
        "Too dear": (False, "points_insufficient"),
        "Gold only": (False, "tier_too_low"),
        "Silver only": (True, None),
        "Sold out": (False, "out_of_stock"),
        "Once": (False, "limit_reached"),
    }
    assert (rows["Once"]["used"], rows["Once"]["per_member_limit"]) == (1, 1)
    assert rows["Affordable"]["stock_left"] == 5
    assert rows["Too dear"]["stock_left"] is None
    assert rows["Gold only"]["min_tier"]["code"] == "gold"
    assert set(rows["Affordable"]) == {
        "id",
        "name",
        "kind",
        "description",
        "points_cost",
        "discount_percent",
        "discount_amount",
        "min_tier",
        "voucher_valid_days",
        "active_until",
        "stock_left",
        "per_member_limit",
        "used",
        "can_redeem",
        "reason",
    }
    assert rows["Affordable"]["discount_percent"] == "10.00"


def test_the_catalogue_reason_is_the_error_redeem_answers(api, member):
    give_points(member, 50)
    reward = RewardFactory(name="Dear", points_cost=100)

    reason = catalogue(api)["Dear"]["reason"]
    response = redeem(api, reward.pk)

    assert response.status_code == 400
    assert response.json()["code"] == reason == "points_insufficient"


def test_a_cancelled_voucher_does_not_count_against_the_limit(api, member):
    from rewards.services import voucher_cancel

    give_points(member, 500)
    once = RewardFactory(name="Once", points_cost=100, per_member_limit=1)
    voucher_cancel(
        voucher=reward_redeem(member=member, reward=once, idempotency_key="x")
    )

    row = catalogue(api)["Once"]

    assert (row["used"], row["can_redeem"]) == (0, True)


def test_the_catalogue_lists_only_rewards_on_offer_now(api, member):
    RewardFactory(name="On offer")
    RewardFactory(name="Withdrawn", is_active=False)
    RewardFactory(name="Not yet", active_from=NOW + timedelta(days=1))
    RewardFactory(name="Over", active_until=NOW)
    RewardFactory(name="Until tomorrow", active_until=NOW + timedelta(days=1))

    assert set(catalogue(api)) == {"On offer", "Until tomorrow"}


def test_a_new_member_without_a_wallet_can_take_free_rewards_only(api):
    RewardFactory(name="Free", points_cost=0)
    RewardFactory(name="Base tier", points_cost=0, min_tier=tier("base"))
    RewardFactory(name="Paid", points_cost=1)

    rows = catalogue(api)

    assert rows["Free"]["can_redeem"] and rows["Base tier"]["can_redeem"]
    assert rows["Paid"]["reason"] == "points_insufficient"


def test_the_catalogue_counts_only_the_members_own_vouchers(api, member):
    other = MemberFactory()
    give_points(other, 100)
    once = RewardFactory(name="Once", points_cost=100, per_member_limit=1)
    reward_redeem(member=other, reward=once, idempotency_key="k")

    row = catalogue(api)["Once"]

    assert row["used"] == 0
    assert row["reason"] == "points_insufficient"


def test_the_catalogue_is_paginated_in_its_order(api):
    for cost in (300, 100, 200):
        RewardFactory(name=f"R{cost}", points_cost=cost)

    body = api.get("/api/v1/rewards?page_size=2").json()

    assert body["count"] == 3
    assert [r["name"] for r in body["results"]] == ["R100", "R200"]


@pytest.mark.parametrize("rewards", [2, 30])
def test_the_catalogue_costs_five_queries_however_many_rewards(
    api, member, django_assert_num_queries, rewards
):
    give_points(member, 1000)
    gold = tier("gold")
    for i in range(rewards):
        reward = RewardFactory(
            points_cost=10 * i, per_member_limit=3, min_tier=gold if i % 2 else None
        )
        if i < 3 and i % 2 == 0:
            reward_redeem(member=member, reward=reward, idempotency_key=f"k{i}")
    assert api.get("/api/v1/rewards").status_code == 200

    # The stamps (the token is cached), the member, the count, the page (with
    # min tiers and the member's vouchers per reward), the wallet
    with django_assert_num_queries(5):
        body = api.get("/api/v1/rewards?page_size=50").json()

    assert len(body["results"]) == rewards


# --- POST rewards/{id}/redeem ------------------------------------------------


def test_redeeming_issues_a_voucher_and_takes_the_points(api, member):
    give_points(member, 500)
    reward = RewardFactory(name="10% off", points_cost=300, voucher_valid_days=30)

    response = redeem(api, reward.pk, key="9b2f6a0e-redeem")

    assert response.status_code == 201
    voucher = response.json()["voucher"]
    stored = Voucher.objects.get(member=member)
    assert voucher["id"] == stored.pk
    assert voucher["code"] == stored.code
    assert voucher["status"] == "active"
    assert voucher["source"] == "redemption"
    assert voucher["points_cost"] == 300
    assert voucher["reward"] == {
        "id": reward.pk,
        "name": "10% off",
        "kind": "percent_discount",
        "description": "",
    }
    assert voucher["valid_until"].startswith("2025-07-10T15:00:00")
    assert voucher["qr_svg"].startswith("<svg")
    assert balances(member) == (200, 0, 0)
    spend = LedgerEntry.objects.get(member=member, kind=LedgerEntry.Kind.SPEND)
    assert (spend.amount, spend.voucher_id) == (-300, stored.pk)


def test_a_retry_with_the_same_key_gets_the_same_answer_and_buys_nothing_more(
    api, member
):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100, stock=10)
    first = redeem(api, reward.pk, key="same")

    again = redeem(api, reward.pk, key="same")

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert first.status_code == 201
    # Only the retry says it is one, as a replayed visit does
    assert not first.has_header("Idempotent-Replayed")
    assert again["Idempotent-Replayed"] == "true"
    assert Voucher.objects.filter(member=member).count() == 1
    assert balances(member) == (400, 0, 0)
    assert Reward.objects.get(pk=reward.pk).stock == 9


def test_a_retry_gets_its_voucher_even_after_the_reward_is_withdrawn(api, member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100)
    first = redeem(api, reward.pk, key="same")
    Reward.objects.filter(pk=reward.pk).update(is_active=False)

    again = redeem(api, reward.pk, key="same")

    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"


def test_a_new_key_buys_again(api, member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100)

    redeem(api, reward.pk, key="a")
    second = redeem(api, reward.pk, key="b")

    assert not second.has_header("Idempotent-Replayed")
    assert Voucher.objects.filter(member=member).count() == 2
    assert balances(member) == (300, 0, 0)


def test_the_same_key_for_another_reward_is_a_409(api, member):
    give_points(member, 500)
    first, second = RewardFactory(points_cost=100), RewardFactory(points_cost=100)
    redeem(api, first.pk, key="same")
    before = state_of(member)

    response = redeem(api, second.pk, key="same")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert state_of(member) == before


def test_another_members_key_is_theirs_alone(api, member, member_api):
    # Keys are per member: the same string from two members is two requests
    other = MemberFactory()
    give_points(member, 100)
    give_points(other, 100)
    reward = RewardFactory(points_cost=100)

    mine = redeem(api, reward.pk, key="k")
    theirs = redeem(member_api(other), reward.pk, key="k")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["voucher"]["id"] != theirs.json()["voucher"]["id"]
    assert Voucher.objects.get(member=other).pk == theirs.json()["voucher"]["id"]


def test_without_an_idempotency_key_nothing_is_bought(api, member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100)
    before = state_of(member)

    for key in (None, ""):
        response = redeem(api, reward.pk, key=key)
        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_required"
    assert state_of(member) == before


@pytest.mark.parametrize("key", ["x" * 101, "tab\there", "ключ"])
def test_a_malformed_idempotency_key_is_a_400(api, member, key):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100)
    before = state_of(member)

    response = redeem(api, reward.pk, key=key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert state_of(member) == before


def test_a_key_of_one_hundred_printable_characters_is_fine(api, member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100)

    response = redeem(api, reward.pk, key=" !~" + "k" * 97)

    assert response.status_code == 201


def test_an_unknown_reward_is_a_404(api, member):
    give_points(member, 500)

    response = redeem(api, 999_999)
    huge = redeem(api, 2**70)

    assert response.status_code == huge.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not Voucher.objects.exists()


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"points_cost": 600}, "points_insufficient"),
        ({"stock": 0}, "out_of_stock"),
        ({"is_active": False}, "reward_not_available"),
        ({"active_until": NOW}, "reward_not_available"),
        ({"min_tier": "gold"}, "tier_too_low"),
        ({"per_member_limit": 0}, "limit_reached"),
    ],
)
def test_a_refused_redemption_is_a_400_with_the_services_code(api, member, setup, code):
    give_points(member, 500)
    if "min_tier" in setup:
        setup = {**setup, "min_tier": tier(setup["min_tier"])}
    reward = RewardFactory(**{"points_cost": 100, **setup})
    before = state_of(member)

    response = redeem(api, reward.pk)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert state_of(member) == before


def test_a_refusal_reads_in_the_requests_language(api, member):
    reward = RewardFactory(points_cost=100)

    response = redeem(api, reward.pk, HTTP_ACCEPT_LANGUAGE="ru")

    assert response.status_code == 400
    assert response.json()["code"] == "points_insufficient"
    assert response["Content-Language"] == "ru"


def test_redeeming_needs_a_member_token(api_client, member):
    give_points(member, 500)
    reward = RewardFactory(points_cost=100)

    anonymous = redeem(api_client, reward.pk)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer rgm_forged")
    forged = redeem(api_client, reward.pk)

    assert (anonymous.status_code, anonymous.json()["code"]) == (
        401,
        "not_authenticated",
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_token")
    assert not Voucher.objects.exists()


def test_the_catalogue_needs_a_member_token(api_client):
    response = api_client.get("/api/v1/rewards")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_redeem_is_a_post(api, member):
    reward = RewardFactory()

    response = api.get(f"/api/v1/rewards/{reward.pk}/redeem")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_options_on_redeem_is_a_405_not_a_500(api):
    reward = RewardFactory()

    response = api.options(f"/api/v1/rewards/{reward.pk}/redeem")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
