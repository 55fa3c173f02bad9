"""GET me's ``summary``: the home screen's tier, points and next expiry, from
the rewards app (``REGULARS_ME_SECTIONS``), clock fixed."""

from datetime import date

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from rewards.models import Wallet
from rewards.services import reward_redeem
from tests.conftest import moscow
from tests.factories import RewardFactory
from tests.rewards.conftest import give_points, tier, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(member, member_api):
    return member_api(member)


def me(client) -> dict:
    response = client.get(reverse("api-me"))
    assert response.status_code == 200
    return response.json()


def test_a_new_member_has_no_tier_no_points_and_nothing_expiring(api, member):
    # Given a member who has never earned anything (no wallet yet)
    assert not Wallet.objects.filter(pk=member.pk).exists()

    # When the app opens its home screen
    body = me(api)

    # Then the profile and an empty summary
    assert body["first_name"] == "Anna"
    assert body["summary"] == {
        "tier": None,
        "points_available": 0,
        "next_expiry": None,
    }


def test_the_summary_shows_the_tier_points_and_soonest_expiry(api, member):
    # Given a Silver member with 300 + 200 points expiring on 20 June, 50 on
    # 18 September, having spent 100 of them
    tier_set(member, "silver")
    give_points(member, 300, lifetime_days=10)
    give_points(member, 200, lifetime_days=10)
    give_points(member, 50, lifetime_days=100)
    reward_redeem(
        member=member, reward=RewardFactory(points_cost=100), idempotency_key="k1"
    )

    body = me(api)

    # Then the soonest date's points (what is left of them), and no more dates
    assert body["summary"] == {
        "tier": {"code": "silver", "name": "Silver"},
        "points_available": 450,
        "next_expiry": {"expires_on": "2025-06-20", "points": 400},
    }


def test_points_past_their_date_are_not_the_next_expiry(api, member):
    # Given 30 points that expired yesterday (the nightly job has not run yet)
    # and 20 expiring in a month
    give_points(member, 30, lifetime_days=1)
    give_points(member, 20, lifetime_days=31)

    with time_machine.travel(moscow(2025, 6, 12, 9, 0), tick=False):
        body = me(api)

    assert body["summary"]["next_expiry"] == {
        "expires_on": str(date(2025, 7, 11)),
        "points": 20,
    }


def test_a_renamed_tier_shows_its_new_name(api, member):
    tier_set(member, "silver")
    me(api)  # the tiers are now in the process's cache
    silver = tier("silver")
    silver.name = "Silver Plus"
    silver.save()

    assert me(api)["summary"]["tier"] == {"code": "silver", "name": "Silver Plus"}


def test_patch_me_answers_the_summary_too(api, member):
    give_points(member, 70, lifetime_days=10)

    response = api.patch(reverse("api-me"), {"first_name": "Anya"})

    assert response.status_code == 200, response.json()
    assert response.json()["first_name"] == "Anya"
    assert response.json()["summary"]["points_available"] == 70


@pytest.mark.parametrize("lots", [0, 1, 40])
def test_get_me_costs_three_queries_however_many_lots(
    api, member, django_assert_num_queries, lots
):
    # Given a Silver member with 0, 1 or 40 lots on different dates
    tier_set(member, "silver")
    for i in range(lots):
        give_points(member, 5, lifetime_days=5 + i)
    # The first request stamps the token's use and gives the card code
    me(api)

    # Then: the change stamps (token, settings and tiers come from the
    # process's caches), the member row, and the summary's one statement
    # (wallet with its tier id and the soonest expiry)
    with django_assert_num_queries(3):
        body = me(api)

    assert body["summary"]["points_available"] == 5 * lots
    assert body["summary"]["tier"]["code"] == "silver"


def test_the_summary_is_the_one_query_get_me_adds(
    api, member, django_assert_num_queries
):
    give_points(member, 5, lifetime_days=5)
    me(api)

    with override_settings(REGULARS_ME_SECTIONS=[]), django_assert_num_queries(2):
        assert "summary" not in me(api)


def test_the_schema_shows_the_summary(api_client):
    schema = api_client.get(reverse("api-schema"), {"format": "json"}).json()

    components = schema["components"]["schemas"]
    get_me = schema["paths"]["/api/v1/me"]["get"]["responses"]["200"]
    assert get_me["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Me"
    }
    summary = components["Me"]["properties"]["summary"]
    assert summary["allOf"] == [{"$ref": "#/components/schemas/MeSummary"}]
    fields = components["MeSummary"]["properties"]
    assert set(fields) == {"tier", "points_available", "next_expiry"}
    assert fields["tier"]["nullable"] is True
    assert fields["tier"]["allOf"] == [{"$ref": "#/components/schemas/MeTier"}]
    assert set(components["MeTier"]["properties"]) == {"code", "name"}
    assert fields["points_available"]["type"] == "integer"
    assert fields["next_expiry"]["nullable"] is True
    expiry = fields["next_expiry"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
    assert set(components[expiry]["properties"]) == {"expires_on", "points"}
