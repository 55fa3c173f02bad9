"""The admin of API access: POS keys (issued once, revoked), member tokens
(revoked), sign-in locks (unlocked) and sign-in codes (read-only, never the hash).
"""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from rest_framework.test import APIClient

from members import access
from members.models import ApiKey, MemberToken, OtpChallenge, OtpGuard
from tests.conftest import moscow
from tests.factories import LocationFactory, MemberFactory

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
LOOKUP = reverse("pos-member-lookup")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def act(client, model: str, action: str, objs):
    return client.post(
        reverse(f"admin:members_{model}_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objs]},
        follow=True,
    )


def works(raw_key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client.get(LOOKUP, {"phone": "+79160000000"}).status_code != 401


# --- POS API keys ---------------------------------------------------------------


def test_a_manager_issues_a_key_and_sees_it_once(manager_client, location):
    # When the manager adds a key with only a location and a name
    response = manager_client.post(
        reverse("admin:members_apikey_add"),
        {"location": location.pk, "name": "Front desk till"},
    )

    # Then the page shows the key once, and only its hash is stored
    assert response.status_code == 200
    key = ApiKey.objects.get()
    raw = response.context["raw_key"]
    assert raw.startswith("rgk_") and raw in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert (key.location, key.name, key.created_by) == (
        location,
        "Front desk till",
        manager_client.user,
    )
    assert key.key_hash == access.secret_hash(raw) != raw
    assert raw.startswith(key.prefix)
    assert works(raw)
    # and the key's own page never shows it again
    page = manager_client.get(reverse("admin:members_apikey_change", args=[key.pk]))
    assert page.status_code == 200
    assert raw not in page.content.decode()
    assert key.key_hash in page.content.decode()


def test_the_add_form_asks_only_location_and_name(manager_client, location):
    LocationFactory(name="Closed branch", is_active=False)

    response = manager_client.get(reverse("admin:members_apikey_add"))

    form = response.context["adminform"].form
    assert list(form.fields) == ["location", "name"]
    assert [loc.name for loc in form.fields["location"].queryset] == [location.name]


def test_a_key_cannot_be_edited_or_deleted(manager_client, location):
    key, _raw = access.api_key_issue(location=location, name="till")

    response = manager_client.post(
        reverse("admin:members_apikey_change", args=[key.pk]),
        {"location": LocationFactory().pk, "name": "changed"},
    )

    key.refresh_from_db()
    assert (key.location, key.name) == (location, "till")
    assert response.status_code in (200, 302)
    delete = manager_client.get(reverse("admin:members_apikey_delete", args=[key.pk]))
    assert delete.status_code == 403


def test_the_key_list_filters_by_state_and_location(manager_client, location):
    live, _ = access.api_key_issue(location=location, name="till")
    gone, _ = access.api_key_issue(location=location, name="old till")
    access.api_key_revoke(key=gone)
    elsewhere, _ = access.api_key_issue(location=LocationFactory(), name="till")
    url = reverse("admin:members_apikey_changelist")

    assert listed(manager_client.get(url)) == {live.pk, gone.pk, elsewhere.pk}
    assert listed(manager_client.get(url, {"state": "active"})) == {
        live.pk,
        elsewhere.pk,
    }
    assert listed(manager_client.get(url, {"state": "revoked"})) == {gone.pk}
    assert listed(manager_client.get(url, {"location__id__exact": location.pk})) == {
        live.pk,
        gone.pk,
    }


def test_the_revoke_action_stops_the_keys(manager_client, location):
    key, raw = access.api_key_issue(location=location)
    other, other_raw = access.api_key_issue(location=location)

    response = act(manager_client, "apikey", "revoke_keys", [key])

    assert "1 key revoked." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at == NOW
    assert key.revoked_by == manager_client.user
    assert not works(raw)
    assert works(other_raw)


def test_revoking_a_revoked_key_changes_nothing(manager_client, location):
    key, _raw = access.api_key_issue(location=location)
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        access.api_key_revoke(key=key)

    response = act(manager_client, "apikey", "revoke_keys", [key])

    assert "0 keys revoked." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at == NOW - timedelta(days=1)


@pytest.mark.parametrize("who", ["front_desk_client", "analyst_client"])
def test_only_managers_handle_keys(request, who, location):
    client = request.getfixturevalue(who)
    key, raw = access.api_key_issue(location=location)

    assert client.get(reverse("admin:members_apikey_changelist")).status_code == 403
    assert client.get(reverse("admin:members_apikey_add")).status_code == 403
    act(client, "apikey", "revoke_keys", [key])
    assert works(raw)


# --- Member tokens --------------------------------------------------------------


def test_tokens_are_listed_and_found_by_phone_typed_any_way(manager_client):
    anna = MemberFactory(phone="+79161234567")
    token, _raw = access.token_issue(member=anna, device="iPhone 15")
    access.token_issue(member=MemberFactory(phone="+79267654321"))
    url = reverse("admin:members_membertoken_changelist")

    response = manager_client.get(url, {"q": "8 916 123-45-67"})

    assert listed(response) == {token.pk}
    assert listed(manager_client.get(url, {"q": "4567"})) == {token.pk}
    assert "iPhone 15" in response.content.decode()
    assert token.key_hash not in response.content.decode()


def test_the_revoke_action_signs_the_member_out(manager_client, member):
    token, raw = access.token_issue(member=member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    act(manager_client, "membertoken", "revoke_tokens", [token])

    token.refresh_from_db()
    assert token.revoked_by == manager_client.user
    assert access.token_authenticate(raw) is None


def test_tokens_cannot_be_added_edited_or_deleted(manager_client, member):
    token, _raw = access.token_issue(member=member, device="Pixel")

    assert (
        manager_client.get(reverse("admin:members_membertoken_add")).status_code == 403
    )
    page = manager_client.get(
        reverse("admin:members_membertoken_change", args=[token.pk])
    )
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    manager_client.post(
        reverse("admin:members_membertoken_change", args=[token.pk]),
        {"device": "changed"},
    )
    assert MemberToken.objects.get(pk=token.pk).device == "Pixel"


# --- Sign-in locks and codes ----------------------------------------------------


def test_unlock_lets_a_locked_phone_try_again(manager_client):
    locked = OtpGuard.objects.create(
        phone="+79161234567", failures=5, locked_until=NOW + timedelta(minutes=30)
    )
    fine = OtpGuard.objects.create(phone="+79267654321", failures=1)
    url = reverse("admin:members_otpguard_changelist")
    assert listed(manager_client.get(url, {"locked": "yes"})) == {locked.pk}

    response = act(manager_client, "otpguard", "unlock", [locked])

    assert "1 phone may sign in again." in response.content.decode()
    locked.refresh_from_db()
    assert (locked.failures, locked.locked_until) == (0, None)
    assert OtpGuard.objects.get(pk=fine.pk).failures == 1
    assert listed(manager_client.get(url, {"locked": "yes"})) == set()


def test_otp_guard_unlock_service_is_idempotent():
    guard = OtpGuard.objects.create(phone="+79161234567", failures=3)

    access.otp_guard_unlock(guard=guard)
    access.otp_guard_unlock(guard=guard)

    assert (guard.failures, guard.locked_until) == (0, None)


def test_sign_in_codes_are_listed_without_their_hash(manager_client):
    challenge = OtpChallenge.objects.create(
        phone="+79161234567",
        code_hash="f" * 64,
        expires_at=NOW + timedelta(minutes=5),
        ip="10.0.0.1",
    )

    listing = manager_client.get(
        reverse("admin:members_otpchallenge_changelist"), {"q": "8 916 123 45 67"}
    )
    page = manager_client.get(
        reverse("admin:members_otpchallenge_change", args=[challenge.pk])
    )

    assert listed(listing) == {challenge.pk}
    for response in (listing, page):
        assert response.status_code == 200
        assert "f" * 64 not in response.content.decode()
    assert (
        manager_client.get(reverse("admin:members_otpchallenge_add")).status_code == 403
    )


@pytest.mark.parametrize("model", ["apikey", "membertoken", "otpguard", "otpchallenge"])
def test_the_superuser_sees_every_access_list(admin_client, model, location, member):
    access.api_key_issue(location=location)
    access.token_issue(member=member)

    response = admin_client.get(reverse(f"admin:members_{model}_changelist"))

    assert response.status_code == 200
