"""``manage.py demo_api_access``: what the Quickstart prints for trying the APIs."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from members import access
from members.models import ApiKey
from tests.factories import MemberFactory
from tests.rewards.conftest import give_points

pytestmark = pytest.mark.django_db


def run() -> dict[str, str]:
    out = StringIO()
    call_command("demo_api_access", stdout=out)
    return dict(line.split("=", 1) for line in out.getvalue().splitlines())


def test_prints_the_richest_member_and_a_working_pos_key(location):
    poor, rich = MemberFactory(), MemberFactory()
    give_points(poor, 10)
    give_points(rich, 500)

    printed = run()

    assert printed["DEMO_APP_PHONE"] == rich.phone.as_e164
    key = access.api_key_authenticate(printed["DEMO_POS_KEY"])
    assert key is not None and key.location == location


def test_a_second_run_revokes_the_first_demo_key(location):
    give_points(MemberFactory(), 100)
    first = run()["DEMO_POS_KEY"]

    second = run()["DEMO_POS_KEY"]

    assert access.api_key_authenticate(first) is None
    assert access.api_key_authenticate(second) is not None
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1


def test_without_demo_data_it_says_what_to_run():
    with pytest.raises(CommandError, match="seed_demo"):
        run()
