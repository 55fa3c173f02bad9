"""``manage.py issue_api_key`` prints a new POS key once; ``revoke_api_key`` stops it."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from members.models import ApiKey
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db


def issue(*args) -> str:
    out = StringIO()
    call_command("issue_api_key", *args, stdout=out)
    return out.getvalue()


def printed_key(output: str) -> str:
    (raw,) = [line for line in output.splitlines() if line.startswith("rgk_")]
    return raw


def lookup_status(raw: str, phone: str) -> int:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client.get(reverse("pos-member-lookup"), {"phone": phone}).status_code


@pytest.mark.parametrize("given", ["Patriarch Ponds", "patriarch ponds", "PATRIKI"])
def test_issue_a_key_by_location_name_or_code(location, member, given):
    output = issue("--location", given, "--name", "Front desk till")

    raw = printed_key(output)
    key = ApiKey.objects.get()
    assert (key.location, key.name) == (location, "Front desk till")
    assert key.prefix in output and "Patriarch Ponds (patriki)" in output
    assert key.key_hash != raw and raw not in key.key_hash
    # The printed key works against the API, for that location
    assert lookup_status(raw, str(member.phone)) == 200


def test_each_run_issues_a_new_key(location):
    first = printed_key(issue("--location", "patriki"))
    second = printed_key(issue("--location", "patriki"))

    assert first != second
    assert ApiKey.objects.count() == 2


def test_an_unknown_location_lists_the_known_ones(location):
    LocationFactory(name="Arbat", code="arbat")

    with pytest.raises(CommandError) as exc:
        issue("--location", "Nowhere")

    assert "Arbat (arbat), Patriarch Ponds (patriki)" in str(exc.value)
    assert not ApiKey.objects.exists()


def test_a_closed_location_gets_no_key(location):
    location.is_active = False
    location.save()

    with pytest.raises(CommandError, match="closed"):
        issue("--location", "patriki")


def test_a_code_wins_over_another_locations_name(location):
    LocationFactory(name="patriki-2", code="other")
    LocationFactory(name="Somewhere", code="patriki-2")

    issue("--location", "patriki-2")

    assert ApiKey.objects.get().location.code == "patriki-2"


def test_revoke_api_key_by_prefix(location, member):
    raw = printed_key(issue("--location", "patriki"))
    key = ApiKey.objects.get()
    out = StringIO()

    call_command("revoke_api_key", key.prefix, stdout=out)

    assert "Revoked" in out.getvalue()
    assert lookup_status(raw, str(member.phone)) == 401
    with pytest.raises(CommandError, match="No live key"):
        call_command("revoke_api_key", key.prefix)
