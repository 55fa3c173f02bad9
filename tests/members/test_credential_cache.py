"""The per-process credential caches (``members.access``): a warm process
answers ``me/points`` in two statements, and every way a credential dies —
sign-out, revocation, blocking, erasure, a key revoked, a location closed — is
refused on the very next request, in this process and in another one."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core import stamps
from core.models import Stamp
from members import access, privacy, services
from members.models import Location, Member, MemberToken
from rewards.models import ProgramSettings
from rewards.selectors import program_settings
from tests.factories import MemberFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent
POINTS = "/api/v1/me/points"
ME = reverse("api-me")
LOGOUT = reverse("api-logout")
POS_LOOKUP = reverse("pos-member-lookup")


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def refused(response, code: str = "invalid_token") -> bool:
    return response.status_code == 401 and response.json()["code"] == code


@pytest.fixture
def signed_in(member):
    """(raw token, client) of ``member``, its cache entry warm."""
    _token, raw = access.token_issue(member=member)
    client = bearer(raw)
    assert client.get(POINTS).status_code == 200
    return raw, client


@pytest.fixture
def till(location):
    """(raw key, client) of a POS key of ``location``, its cache entry warm."""
    _key, raw = access.api_key_issue(location=location, name="till")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get(POS_LOOKUP, {"phone": "+79990000000"}).status_code == 404
    return raw, client


def sql_of(captured) -> str:
    return "\n".join(q["sql"] for q in captured.captured_queries)


# --- The warm path ----------------------------------------------------------------


@pytest.mark.django_db
def test_warm_points_cost_two_statements_no_token_no_member(
    signed_in, django_assert_num_queries
):
    _raw, client = signed_in

    # The stamps; the wallet with the lots by date. No token, member, settings.
    with django_assert_num_queries(2) as captured:
        response = client.get(POINTS)

    assert response.status_code == 200
    sql = sql_of(captured)
    assert "core_stamp" in sql
    assert "members_membertoken" not in sql
    assert 'members_member"' not in sql and "rewards_programsettings" not in sql


@pytest.mark.django_db
def test_a_warm_token_is_answered_from_memory_keyed_by_its_hash(
    signed_in, member, django_assert_num_queries
):
    raw, _client = signed_in

    with stamps.scope():
        stamps.current()  # the request reads the stamps first
        with django_assert_num_queries(0):
            token = access.token_authenticate(raw)

    assert token.member_id == member.pk and token.revoked_at is None
    cached = access._tokens.get()._data
    assert access.secret_hash(raw) in cached
    assert not any(raw in key for key in cached)


@pytest.mark.django_db
def test_the_member_is_read_per_request_never_from_the_cache(signed_in, member):
    raw, client = signed_in
    assert client.get(ME).json()["first_name"] == "Anna"

    # A change that moves no stamp (a name) is still seen at once
    Member.objects.filter(pk=member.pk).update(first_name="Anya")

    assert client.get(ME).json()["first_name"] == "Anya"


@pytest.mark.django_db
def test_a_refusal_is_not_cached_so_a_new_token_works_at_once(member):
    assert access.token_authenticate("rgm_unknown") is None
    _token, raw = access.token_issue(member=member)

    assert bearer(raw).get(POINTS).status_code == 200


@pytest.mark.django_db
def test_the_cache_keeps_the_most_recently_used(member, monkeypatch):
    monkeypatch.setattr(access, "CACHE_MAX_ENTRIES", 2)
    stamps.ProcessCache.clear_all()
    raws = [access.token_issue(member=member)[1] for _ in range(3)]

    for raw in raws:
        assert access.token_authenticate(raw) is not None

    cached = access._tokens.get()._data
    assert list(cached) == [access.secret_hash(raw) for raw in raws[1:]]
    assert access.token_authenticate(raws[0]) is not None  # from the database


@pytest.mark.django_db
def test_last_use_is_written_every_five_minutes_and_moves_no_stamp(signed_in):
    raw, client = signed_in
    token = MemberToken.objects.get(key_hash=access.secret_hash(raw))
    first_use = token.last_used_at
    before = dict(Stamp.objects.values_list("id", "value"))

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert client.get(POINTS).status_code == 200
        token.refresh_from_db()
        assert token.last_used_at == first_use
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert client.get(POINTS).status_code == 200
        token.refresh_from_db()
        assert token.last_used_at > first_use

    assert dict(Stamp.objects.values_list("id", "value")) == before


# --- Member tokens: the next request is refused -------------------------------


@pytest.mark.django_db
def test_signing_out_refuses_the_token_on_the_next_request(signed_in):
    _raw, client = signed_in

    assert client.post(LOGOUT).status_code == 204

    assert refused(client.get(POINTS))


@pytest.mark.django_db
def test_a_revoked_token_is_refused_on_the_next_request(signed_in, member):
    raw, client = signed_in
    other, other_raw = access.token_issue(member=member)
    assert bearer(other_raw).get(POINTS).status_code == 200

    access.token_revoke(token=MemberToken.objects.get(pk=other.pk))

    assert refused(bearer(other_raw).get(POINTS))
    assert client.get(POINTS).status_code == 200  # the member's other token


@pytest.mark.django_db
def test_blocking_refuses_the_members_tokens_and_unblocking_brings_none_back(
    signed_in, member, manager_client
):
    _raw, client = signed_in

    # When a manager blocks the member (the admin action, through the service)
    response = manager_client.post(
        reverse("admin:members_member_changelist"),
        {"action": "block_members", "_selected_action": [member.pk]},
    )
    assert response.status_code == 302
    assert Member.objects.get(pk=member.pk).status == Member.Status.BLOCKED

    # Then the next request is refused: the tokens were revoked
    assert refused(client.get(POINTS))

    # and unblocking does not bring them back (the member signs in again)
    services.member_update(member=member, status=Member.Status.ACTIVE)
    assert refused(client.get(POINTS))


@pytest.mark.django_db
def test_erasing_myself_refuses_my_tokens_at_once(signed_in, member):
    _raw, client = signed_in
    _token, other_raw = access.token_issue(member=member)
    other = bearer(other_raw)
    assert other.get(POINTS).status_code == 200

    assert client.delete(ME).status_code == 204

    assert refused(client.get(POINTS))
    assert refused(other.get(POINTS))


@pytest.mark.django_db
def test_erasure_by_staff_refuses_the_token_at_once(signed_in, member):
    _raw, client = signed_in

    privacy.member_erase(member=member)

    assert refused(client.get(POINTS))


@pytest.mark.django_db
def test_another_members_change_leaves_a_token_working(signed_in):
    _raw, client = signed_in

    services.member_update(member=MemberFactory(), status=Member.Status.BLOCKED)

    assert client.get(POINTS).status_code == 200


# --- POS keys -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_warm_key_costs_no_query(till, location, django_assert_num_queries):
    raw, _client = till

    with stamps.scope():
        stamps.current()
        with django_assert_num_queries(0):
            key = access.api_key_authenticate(raw)

    assert key.location == location and key.location.is_active


@pytest.mark.django_db
def test_a_revoked_key_is_refused_on_the_next_request(till):
    raw, client = till

    access.api_key_revoke(key=access.api_key_authenticate(raw))

    response = client.get(POS_LOOKUP, {"phone": "+79990000000"})
    assert refused(response, "invalid_api_key")


@pytest.mark.django_db
def test_a_deactivated_locations_key_is_refused(till, location):
    _raw, client = till

    location.is_active = False
    location.save()

    response = client.get(POS_LOOKUP, {"phone": "+79990000000"})
    assert refused(response, "invalid_api_key")


@pytest.mark.django_db
def test_another_locations_change_leaves_a_key_working(till):
    _raw, client = till

    Location.objects.create(name="New salon", code="new")

    response = client.get(POS_LOOKUP, {"phone": "+79990000000"})
    assert response.status_code == 404  # authenticated; no such member


# --- Two processes ----------------------------------------------------------------

# A second web process: serves the member API through Django's full stack
# (middleware, caches) for each line it reads, and writes one JSON line back.
_OTHER_PROCESS = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from rest_framework.test import APIClient

    setup_test_environment()
    for line in sys.stdin:
        raw = line.strip()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/me/points")
        print(json.dumps({
            "status": response.status_code,
            "body": response.json(),
            "queries": len(queries.captured_queries),
        }), flush=True)
    """
)


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def other_process():
    """A second process on this test database: ``ask(raw_token)`` → its answer."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def ask(raw: str) -> dict:
        process.stdin.write(raw + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        assert line, process.stderr.read()
        return json.loads(line)

    try:
        yield ask
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: a second process on SQLite's in-memory test database",
)
@pytest.mark.django_db(transaction=True)
def test_another_process_sees_an_edit_and_a_revocation_on_its_next_request(
    other_process,
):
    # Given a member signed in, and another process whose caches are warm
    member = MemberFactory()
    token, raw = access.token_issue(member=member)
    program_settings()  # the row exists (a transactional test starts empty)
    first = other_process(raw)
    warm = other_process(raw)
    assert (first["status"], warm["status"]) == (200, 200)
    assert warm["queries"] == 2  # stamps, points: token and settings cached
    assert warm["body"]["point_value"] == "1.00"

    # When the settings are edited here (as the admin saves them)
    edited = ProgramSettings.objects.get(pk=1)
    edited.point_value = Decimal("0.50")
    edited.save()

    # Then the other process's next request uses them
    assert other_process(raw)["body"]["point_value"] == "0.50"

    # When the token is revoked here
    access.token_revoke(token=token)

    # Then the other process refuses it on its next request
    answer = other_process(raw)
    assert (answer["status"], answer["body"].get("code")) == (401, "invalid_token")
