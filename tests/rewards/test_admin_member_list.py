"""The member list: tier and points at a glance, filtered by tier."""

import pytest
from django.urls import reverse

from tests.factories import MemberFactory
from tests.rewards.conftest import give_points, tier_set

pytestmark = pytest.mark.django_db

URL = reverse("admin:members_member_changelist")


@pytest.fixture
def silver():
    member = MemberFactory(first_name="Sofia", last_name="Silver")
    give_points(member, 1250)
    tier_set(member, "silver")
    return member


@pytest.fixture
def newcomer():
    return MemberFactory(first_name="Nina", last_name="New")


def test_the_list_shows_tier_and_points(front_desk_client, silver, newcomer):
    page = front_desk_client.get(URL).content.decode()

    row = page.split("Sofia Silver</a>")[1].split("</tr>")[0]
    assert "Silver" in row
    assert "1,250" in row
    assert "Nina New" in page


def test_the_list_filters_by_tier(front_desk_client, silver, newcomer):
    tier_id = silver.wallet.tier_id

    by_tier = front_desk_client.get(URL, {"tier": tier_id}).content.decode()
    assert "Sofia Silver" in by_tier and "Nina New" not in by_tier

    without = front_desk_client.get(URL, {"tier": "none"}).content.decode()
    assert "Nina New" in without and "Sofia Silver" not in without


def test_the_list_costs_a_fixed_number_of_queries(
    front_desk_client, silver, django_assert_max_num_queries
):
    for _ in range(20):
        tier_set(MemberFactory(), "silver")
    with django_assert_max_num_queries(12):
        assert front_desk_client.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("color", "text"),
    [("#A8B3BD", "#1a1a1a"), ("#D4A017", "#1a1a1a"), ("#333333", "#fff"), ("", "#fff")],
)
def test_a_tier_badge_reads_on_its_own_colour(color, text):
    from rewards.models import Tier

    assert Tier(color=color).text_color == text
