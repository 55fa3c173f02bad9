"""Demo referrals: the friends the demo's members invite."""

from io import StringIO

import pytest
from django.core.management import call_command

from members import demo as members_demo
from members.models import Member
from referrals.demo import PHONE_PREFIX, STORY
from referrals.models import Referral

pytestmark = pytest.mark.django_db


def demo_referrals(*, language: str, referrers: int = 3) -> list[Member]:
    """The demo as scripts/demo.sh builds it, up to the referrals; the friends."""
    quiet = {"stdout": StringIO(), "stderr": StringIO()}
    call_command(
        "seed_demo", "--members", "60", "--seed", "7", "--today", "2026-11-23",
        "--no-progress", "--jobs", "1", "--language", language, **quiet,
    )  # fmt: skip
    call_command("seed_program_demo", "--language", language, **quiet)
    call_command(
        "points_backfill", "--no-progress", "--jobs", "1", "--spend-every", "4", **quiet
    )
    call_command(
        "seed_referrals_demo", "--referrers", str(referrers), "--language",
        language, "--no-progress", **quiet,
    )  # fmt: skip
    return list(Member.objects.filter(phone__startswith=PHONE_PREFIX))


@pytest.mark.parametrize("language", ["ru", "en"])
def test_friends_surnames_agree_with_their_first_names(language):
    friends = demo_referrals(language=language)

    # Then each friend's surname has the form of their gender: Ольга Петрова,
    # Иван Петров (Olga Petrova, Ivan Petrov)
    lang = 1 if language == "ru" else 0
    women = {names[lang] for names in members_demo.FIRST_NAMES_F}
    men = {names[lang] for names in members_demo.FIRST_NAMES_M}
    surnames = {names[lang] for names in members_demo.LAST_NAMES}
    feminine = "а" if language == "ru" else "a"
    assert len(friends) == 3 * (len(STORY) - 1)
    assert {f.first_name in women for f in friends} == {True, False}
    for friend in friends:
        name = (friend.first_name, friend.last_name)
        if friend.first_name in women:
            assert friend.last_name.removesuffix(feminine) in surnames, name
            assert friend.last_name.endswith(feminine), name
        else:
            assert friend.first_name in men, name
            assert friend.last_name in surnames, name
    # And they are real referrals, each with a name of its own
    assert Referral.objects.filter(referee__in=friends).count() == len(friends)
    assert len({(f.first_name, f.last_name) for f in friends}) == len(friends)
