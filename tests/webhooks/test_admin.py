"""The admin: endpoints managed by managers (and superusers) only, deliveries
read-only with their attempts, replay, ping, re-enable."""

from __future__ import annotations

from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from members.services import member_register
from tests.webhooks.conftest import deliver
from webhooks import services
from webhooks.models import Delivery, Endpoint, Event

ENDPOINTS = reverse("admin:webhooks_endpoint_changelist")
DELIVERIES = reverse("admin:webhooks_delivery_changelist")


def register(phone="+79161230001"):
    return member_register(phone=phone, first_name="Anna")


def test_manager_sees_the_pages(manager_client, make_endpoint, receiver):
    endpoint = make_endpoint(events=["member.created"])
    register()
    deliver()
    d = Delivery.objects.get()

    for url in (
        ENDPOINTS,
        reverse("admin:webhooks_endpoint_add"),
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        DELIVERIES,
        f"{DELIVERIES}?status=delivered&type=member.created",
        reverse("admin:webhooks_delivery_change", args=[d.pk]),
    ):
        response = manager_client.get(url)
        assert response.status_code == 200, url

    page = manager_client.get(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
    ).content.decode()
    assert f"#{d.pk}" in page  # recent deliveries
    detail = manager_client.get(
        reverse("admin:webhooks_delivery_change", args=[d.pk])
    ).content.decode()
    assert str(d.event_id) in detail and "Anna" in detail  # the data
    assert "200" in detail  # the attempt


def test_other_roles_do_not_see_endpoints(
    front_desk_client, make_endpoint, analyst_client
):
    for client in (front_desk_client, analyst_client):
        assert client.get(ENDPOINTS).status_code == 403
        assert client.get(DELIVERIES).status_code == 403


def test_manager_adds_an_endpoint_with_a_generated_secret(manager_client):
    response = manager_client.post(
        reverse("admin:webhooks_endpoint_add"),
        {
            "url": "https://crm.example/hooks",
            "description": "CRM",
            "events": ["visit.recorded", "member.created"],
            "secret": "s3cret-s3cret",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get()
    # Kept in the registry's order
    assert endpoint.events == ["member.created", "visit.recorded"]
    # And this process sees it at once
    register()
    assert Event.objects.get().type == "member.created"


def test_replay_from_the_admin_sends_the_same_event_again(
    manager_client, make_endpoint, receiver
):
    # Given a delivered event
    make_endpoint(events=["member.created"])
    register()
    deliver()
    original = Delivery.objects.get()

    # When the manager replays it
    response = manager_client.post(
        DELIVERIES,
        {"action": "replay", helpers.ACTION_CHECKBOX_NAME: [original.pk]},
    )
    assert response.status_code == 302
    deliver()

    # Then a second POST reached the server with the same event id, signed again
    first, second = receiver.requests
    assert first.json["id"] == second.json["id"] == str(original.event_id)
    assert first.headers["X-Regulars-Delivery"] != second.headers["X-Regulars-Delivery"]
    replay = Delivery.objects.exclude(pk=original.pk).get()
    assert (replay.replay_of, replay.status) == (original.pk, "delivered")
    original.refresh_from_db()
    assert original.status == "delivered"


def test_ping_and_re_enable(manager_client, make_endpoint, receiver):
    endpoint = make_endpoint(events=["member.created"])
    manager_client.post(
        ENDPOINTS, {"action": "ping", helpers.ACTION_CHECKBOX_NAME: [endpoint.pk]}
    )
    deliver()
    [request] = receiver.requests
    assert request.json["type"] == "ping"

    # A disabled endpoint shows loud, and the manager switches it back on
    Endpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason="Failing."
    )
    listing = manager_client.get(ENDPOINTS).content.decode()
    assert "Disabled (failing)" in listing and "#ba2121" in listing
    page = manager_client.get(
        reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
    ).content.decode()
    assert "This endpoint was disabled" in page
    manager_client.post(
        ENDPOINTS, {"action": "enable", helpers.ACTION_CHECKBOX_NAME: [endpoint.pk]}
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_at is None


def test_deleting_an_endpoint_stops_its_events(manager_client, make_endpoint):
    endpoint = make_endpoint(events=["member.created"])
    response = manager_client.post(
        reverse("admin:webhooks_endpoint_delete", args=[endpoint.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    register()
    assert Event.objects.count() == 0


def test_services_save_keeps_unknown_types_out(db):
    endpoint = services.endpoint_save(
        endpoint=Endpoint(url="https://x.example/h", events=["member.created"] * 2)
    )
    assert endpoint.events == ["member.created"]
