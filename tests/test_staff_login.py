"""Staff sign-in: wrong passwords lock the username from that address
(django-axes), an administrator unlocks it, and staff sessions expire."""

import io
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from tests.conftest import moscow

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
HOME = reverse("admin:index")
T0 = moscow(2026, 3, 2, 9, 0)


@pytest.fixture
def manager(db):
    return get_user_model().objects.create_user(
        username="olga", password="right-horse-battery", is_staff=True
    )


def sign_in(
    password, *, username="olga", ip="10.0.0.1", client=None, otp_token="", **headers
):
    client = client or Client()
    response = client.post(
        LOGIN,
        {
            "username": username,
            "password": password,
            "next": HOME,
            "otp_token": otp_token,
        },
        REMOTE_ADDR=ip,
        **headers,
    )
    return client, response


def test_five_wrong_passwords_lock_the_user_from_that_address(manager):
    for _ in range(4):
        _client, response = sign_in("wrong")
        assert response.status_code == 200  # the form again, with its error
    _client, response = sign_in("wrong")
    assert response.status_code == 429
    # Now even the right password is refused, with a page that says why
    _client, response = sign_in("right-horse-battery")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in locked" in page and "After 5 wrong passwords" in page
    assert "Try again in 60 minutes" in page
    # Another address, or another user from this address, still signs in
    _client, response = sign_in("right-horse-battery", ip="10.0.0.2")
    assert response.status_code == 302
    get_user_model().objects.create_user(username="ivan", password="x", is_staff=True)
    _client, response = sign_in("x", username="ivan")
    assert response.status_code == 302


def test_the_lock_page_speaks_russian(manager):
    for _ in range(5):
        sign_in("wrong")
    _client, response = sign_in("wrong", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.status_code == 429
    assert "Вход заблокирован" in response.content.decode()


def test_the_lock_lifts_after_its_time(manager):
    with time_machine.travel(T0, tick=False):
        for _ in range(5):
            sign_in("wrong")
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        _client, response = sign_in("right-horse-battery")
    assert response.status_code == 302


def test_a_right_password_resets_the_count(manager):
    for _ in range(4):
        sign_in("wrong")
    _client, response = sign_in("right-horse-battery")
    assert response.status_code == 302
    for _ in range(4):
        _client, response = sign_in("wrong")
    assert response.status_code == 200


def test_an_administrator_unlocks_in_the_admin(manager, admin_client):
    for _ in range(5):
        sign_in("wrong")
    attempt = AccessAttempt.objects.get(username="olga")
    # The list shows who and from where; deleting the row unlocks
    changelist = reverse("admin:axes_accessattempt_changelist")
    assert "olga" in admin_client.get(changelist).content.decode()
    response = admin_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    _client, response = sign_in("right-horse-battery")
    assert response.status_code == 302


@override_settings(SESSION_COOKIE_AGE=12 * 3600)
def test_a_staff_session_ends_after_its_hours(manager):
    with time_machine.travel(T0, tick=False):
        client, response = sign_in("right-horse-battery")
        assert response.status_code == 302
        assert client.get(HOME).status_code == 200
    with time_machine.travel(T0 + timedelta(hours=11, minutes=59), tick=False):
        assert client.get(HOME).status_code == 200
    with time_machine.travel(T0 + timedelta(hours=12, minutes=1), tick=False):
        response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


# --- The second factor (TOTP) ----------------------------------------------------


def code_of(device, at) -> str:
    """The code the member's authenticator app shows at ``at``."""
    return f"{_totp(device, int(at.timestamp())):0{device.digits}d}"


def _totp(device, moment: int) -> int:
    from django_otp.oath import TOTP

    generator = TOTP(
        device.bin_key, device.step, device.t0, device.digits, device.drift
    )
    generator.time = moment
    return generator.token()


@pytest.fixture
def with_authenticator(manager):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)


def test_without_an_authenticator_the_password_is_enough(manager):
    _client, response = sign_in("right-horse-battery")
    assert response.status_code == 302


def test_with_an_authenticator_its_code_is_needed(manager, with_authenticator):
    with time_machine.travel(T0, tick=False):
        _client, response = sign_in("right-horse-battery")
        assert response.status_code == 200
        assert (
            "Enter the code your authenticator app shows" in response.content.decode()
        )
        _client, response = sign_in("right-horse-battery", otp_token="000000")
        assert response.status_code == 200
        assert "That code is not right" in response.content.decode()
    # A wrong code slows the device down for a moment (django-otp's throttle)
    later = T0 + timedelta(seconds=10)
    with time_machine.travel(later, tick=False):
        client, response = sign_in(
            "right-horse-battery", otp_token=code_of(with_authenticator, later)
        )
        assert response.status_code == 302
        assert client.get(HOME).status_code == 200


def test_a_session_without_the_code_is_not_let_in(manager, with_authenticator):
    # Signed in some other way (a session from before the authenticator)
    client = Client()
    client.force_login(manager)
    response = client.get(HOME)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


@override_settings(STAFF_2FA_REQUIRED_FOR_SUPERUSERS=True)
def test_a_superuser_needs_an_authenticator_when_the_setting_says_so(manager):
    get_user_model().objects.create_superuser(username="root", password="pw-root-1")
    _client, response = sign_in("pw-root-1", username="root")
    assert response.status_code == 200
    assert "manage.py staff_totp_add root" in response.content.decode()
    # staff who are not superusers still sign in with their password
    _client, response = sign_in("right-horse-battery")
    assert response.status_code == 302


def test_the_command_gives_a_staff_user_an_authenticator(manager):
    out = io.StringIO()
    call_command("staff_totp_add", "olga", stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    device = manager.totpdevice_set.get()
    assert device.confirmed
    with pytest.raises(CommandError):
        call_command("staff_totp_add", "nobody", stdout=io.StringIO())
