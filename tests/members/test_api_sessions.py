"""Members' sessions: tokens expire after MEMBER_TOKEN_TTL_DAYS without use
(sliding), can be refreshed, are listed and signed out one by one, and
blocking signs a member out everywhere for good."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.sites import site
from django.test import RequestFactory, override_settings
from django.urls import reverse

from members import access, services
from members.admin import MemberAdmin
from members.models import Member, MemberToken
from tests.conftest import moscow
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = moscow(2026, 1, 10, 12, 0)
ME = reverse("api-me")
REFRESH = reverse("api-token-refresh")
SESSIONS = reverse("api-me-sessions")


def at(moment):
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def app(member_api, member):
    with at(T0):
        return member_api(member)


def test_a_token_expires_after_the_days_without_use(app):
    # Used on day 80: the period starts again
    with at(T0 + timedelta(days=80)):
        assert app.get(ME).status_code == 200
    with at(T0 + timedelta(days=80 + 89)):
        assert app.get(ME).status_code == 200
    # 90 days and a minute after the last use: expired, with its own code
    with at(T0 + timedelta(days=80 + 89 + 90, minutes=1)):
        response = app.get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"] == "Bearer"
    # and it stays expired: using it does not bring it back
    with at(T0 + timedelta(days=80 + 89 + 91)):
        assert app.get(ME).json()["code"] == "token_expired"


@override_settings(MEMBER_TOKEN_TTL_DAYS=7)
def test_the_period_is_a_setting(app):
    with at(T0 + timedelta(days=7, minutes=1)):
        assert app.get(ME).json()["code"] == "token_expired"


def test_an_unused_new_token_expires_from_its_sign_in(app):
    with at(T0 + timedelta(days=90, minutes=1)):
        assert app.get(ME).json()["code"] == "token_expired"


def test_a_process_that_cached_the_token_asks_the_database_before_refusing(app):
    # This process saw the token on day 0; another one used it on day 60
    with at(T0):
        assert app.get(ME).status_code == 200
    MemberToken.objects.filter(pk=app.token.pk).update(
        last_used_at=T0 + timedelta(days=60)
    )
    # Day 100: the cached copy says expired, the database says used on day 60
    with at(T0 + timedelta(days=100)):
        assert app.get(ME).status_code == 200


def test_refresh_says_when_the_token_now_expires(app):
    later = T0 + timedelta(days=30)
    with at(later):
        response = app.post(REFRESH)
    assert response.status_code == 200
    assert response.json() == {"expires_at": "2026-05-10T12:00:00+03:00"}
    with at(later):
        assert app.post(REFRESH).json() == response.json()  # the same again
    with at(later + timedelta(days=89)):
        assert app.get(ME).status_code == 200


def test_an_expired_token_cannot_be_refreshed(app):
    with at(T0 + timedelta(days=91)):
        response = app.post(REFRESH)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_sessions_list_the_members_live_devices(member_api, member):
    with at(T0):
        phone = member_api(member)
        MemberToken.objects.filter(pk=phone.token.pk).update(
            device="Pixel 8", ip="10.0.0.7"
        )
    with at(T0 + timedelta(days=1)):
        tablet = member_api(member)
        gone = member_api(member)
        access.token_revoke(token=gone.token)
    with at(T0 - timedelta(days=200)):
        member_api(member)  # expired long ago
    member_api(MemberFactory())  # someone else's

    with at(T0 + timedelta(days=2)):
        response = phone.get(SESSIONS)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [phone.token.pk, tablet.token.pk]
    first = rows[0]
    assert first["device"] == "Pixel 8" and first["ip"] == "10.0.0.7"
    assert first["current"] is True and rows[1]["current"] is False
    assert first["last_used_at"] == "2026-01-12T12:00:00+03:00"
    assert first["expires_at"] == "2026-04-12T12:00:00+03:00"
    assert set(first) == {
        "id",
        "device",
        "ip",
        "created_at",
        "last_used_at",
        "expires_at",
        "current",
    }


def test_signing_a_device_out(member_api, member):
    with at(T0):
        phone, tablet = member_api(member), member_api(member)
        url = reverse("api-me-session", kwargs={"pk": tablet.token.pk})
        response = phone.delete(url)
        assert response.status_code == 204
        assert tablet.get(ME).json()["code"] == "invalid_token"
        assert phone.get(ME).status_code == 200
        # again: nothing changes
        assert phone.delete(url).status_code == 204
        assert [row["id"] for row in phone.get(SESSIONS).json()["results"]] == [
            phone.token.pk
        ]


def test_another_members_session_is_not_found(member_api, member):
    with at(T0):
        mine, theirs = member_api(member), member_api(MemberFactory())
        url = reverse("api-me-session", kwargs={"pk": theirs.token.pk})
        response = mine.delete(url)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert theirs.get(ME).status_code == 200
        missing = reverse("api-me-session", kwargs={"pk": 999_999})
        assert mine.delete(missing).status_code == 404


def test_blocking_signs_out_everywhere_and_unblocking_brings_nothing_back(
    member_api, member, admin_user
):
    with at(T0):
        phone, tablet = member_api(member), member_api(member)
        services.member_update(member=member, status=Member.Status.BLOCKED)
        services.member_update(member=member, status=Member.Status.ACTIVE)
        for app in (phone, tablet):
            assert app.get(ME).json()["code"] == "invalid_token"
    assert not MemberToken.objects.filter(member=member, revoked_at=None).exists()


def test_staff_sign_a_member_out_everywhere(member_api, member, admin_user):
    with at(T0):
        phone = member_api(member)
        other = member_api(MemberFactory())
        request = RequestFactory().post("/")
        request.user = admin_user
        request._messages = _Messages()
        MemberAdmin(Member, site).sign_out_everywhere(
            request, Member.objects.filter(pk=member.pk)
        )
        assert phone.get(ME).json()["code"] == "invalid_token"
        assert other.get(ME).status_code == 200
    token = MemberToken.objects.get(pk=phone.token.pk)
    assert token.revoked_by == admin_user
    assert request._messages.texts == ["1 session signed out."]


class _Messages:
    def __init__(self):
        self.texts = []

    def add(self, level, message, extra_tags=""):
        self.texts.append(str(message))
