"""Staff sign-in: wrong passwords lock the username from that address
(django-axes), an administrator unlocks it, and staff sessions expire."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
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


def sign_in(password, *, username="olga", ip="10.0.0.1", client=None, **headers):
    client = client or Client()
    response = client.post(
        LOGIN,
        {"username": username, "password": password, "next": HOME},
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
