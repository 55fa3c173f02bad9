"""The demo loyalty program: catalogue, earn rates and tier perks, idempotent."""

import pytest
from django.core.management import call_command

from members.demo import catalogue_ensure
from rewards.models import CategoryEarnRate, Reward, Tier

pytestmark = pytest.mark.django_db


def test_demo_program_builds_the_catalogue_once_and_keeps_manager_edits():
    catalogue_ensure(russian=False)

    call_command("seed_program_demo", verbosity=0)
    rewards = Reward.objects.count()
    gold = Tier.objects.get(code="gold")
    assert rewards == 8
    assert gold.monthly_reward.service.code == "classic-30"
    assert set(CategoryEarnRate.objects.values_list("category__code", flat=True)) == {
        "stones",
        "spa",
    }

    Reward.objects.filter(kind="partner").update(points_cost=1234)
    call_command("seed_program_demo", verbosity=0)

    assert Reward.objects.count() == rewards
    assert Reward.objects.get(kind="partner").points_cost == 1234


def test_demo_program_in_russian_names_rewards_in_russian():
    catalogue_ensure(russian=True)

    call_command("seed_program_demo", language="ru", verbosity=0)

    assert Reward.objects.filter(name="Ароматерапия в подарок").exists()
