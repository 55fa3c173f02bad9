"""The in-app inbox API: GET me/messages, POST me/messages/{id}/read."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from members.models import Message
from tests.conftest import moscow
from tests.factories import MemberFactory

T0 = moscow(2025, 6, 2, 12, 0)
LIST = "/api/v1/me/messages"


def read_url(pk: int) -> str:
    return f"/api/v1/me/messages/{pk}/read"


def inbox_message(member, *, minutes_ago=0, **fields) -> Message:
    """A delivered in-app message (as ``message_deliver`` leaves it)."""
    fields = {
        "channel": Message.Channel.IN_APP,
        "status": Message.Status.SENT,
        "template_key": "voucher_issued",
        "language": "en",
        "subject": "Your reward is ready",
        "body": "Tea is yours.",
        **fields,
    }
    created = T0 - timedelta(minutes=minutes_ago)
    return Message.objects.create(
        member=member, created_at=created, sent_at=created, **fields
    )


@pytest.fixture
def api(member, member_api):
    return member_api(member)


def test_the_urls_are_where_the_contract_says():
    assert reverse("api-me-messages") == LIST
    assert reverse("api-me-message-read", args=[7]) == read_url(7)


def test_the_inbox_lists_my_delivered_in_app_messages_newest_first(api, member):
    older = inbox_message(member, minutes_ago=10)
    newer = inbox_message(member, minutes_ago=1, subject="Newer")
    # Not in the inbox: queued, failed, other channels, other members
    inbox_message(member, status=Message.Status.QUEUED)
    inbox_message(member, status=Message.Status.FAILED)
    inbox_message(member, channel=Message.Channel.SMS)
    inbox_message(MemberFactory())

    response = api.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [m["id"] for m in body["results"]] == [newer.pk, older.pk]
    assert body["results"][0] == {
        "id": newer.pk,
        "template": "voucher_issued",
        "title": "Newer",
        "body": "Tea is yours.",
        "created_at": "2025-06-02T11:59:00+03:00",
        "sent_at": "2025-06-02T11:59:00+03:00",
        "read_at": None,
    }


def test_the_inbox_is_paginated(api, member):
    for i in range(5):
        inbox_message(member, minutes_ago=i)

    body = api.get(LIST, {"page_size": 2, "page": 2}).json()

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["next"] and body["previous"]


def test_the_inbox_filters_unread(api, member):
    read = inbox_message(member, read_at=T0)
    unread = inbox_message(member)

    assert [m["id"] for m in api.get(LIST, {"unread": "true"}).json()["results"]] == [
        unread.pk
    ]
    assert [m["id"] for m in api.get(LIST, {"unread": "false"}).json()["results"]] == [
        read.pk
    ]


def test_a_bad_filter_is_a_400_in_the_error_format(api):
    response = api.get(LIST, {"unread": "maybe"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "unread" in response.json()["fields"]


@pytest.mark.parametrize("count", [1, 15])
def test_the_inbox_costs_a_fixed_number_of_queries(
    api, member, django_assert_num_queries, count
):
    for i in range(count):
        inbox_message(member, minutes_ago=i)

    api.get(LIST)  # the token's first use stamps last_used_at once

    # the stamps (the token is cached), the member, count, page
    with django_assert_num_queries(4):
        response = api.get(LIST)

    assert response.status_code == 200


def test_marking_read_sets_read_at_once(api, member):
    message = inbox_message(member)

    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        first = api.post(read_url(message.pk))
    with time_machine.travel(T0 + timedelta(minutes=9), tick=False):
        again = api.post(read_url(message.pk))

    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] == "2025-06-02T12:05:00+03:00"
    assert again.json()["read_at"] == "2025-06-02T12:05:00+03:00"
    message.refresh_from_db()
    assert message.read_at == T0 + timedelta(minutes=5)


def test_another_members_message_is_not_found(api):
    theirs = inbox_message(MemberFactory())

    response = api.post(read_url(theirs.pk))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Message.Status.QUEUED},
        {"channel": Message.Channel.SMS},
    ],
)
def test_a_message_outside_my_inbox_is_not_found(api, member, fields):
    message = inbox_message(member, **fields)

    assert api.post(read_url(message.pk)).status_code == 404


def test_an_unknown_id_is_not_found(api):
    assert api.post(read_url(10**9)).status_code == 404


@pytest.mark.parametrize(("method", "url"), [("get", LIST), ("post", read_url(1))])
def test_without_a_token_it_is_a_401(api_client, method, url):
    response = getattr(api_client, method)(url)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_invalid_token_is_a_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = api_client.get(LIST)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_a_pos_key_cannot_read_an_inbox(pos_api, location, member):
    inbox_message(member)

    response = pos_api(location).get(LIST)

    assert response.status_code == 401


def test_the_read_endpoint_takes_no_body_and_ignores_one(api, member):
    message = inbox_message(member)

    response = api.post(
        read_url(message.pk), {"read_at": "2020-01-01T00:00:00Z", "member": 1}
    )

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.read_at.year != 2020


@pytest.mark.parametrize("url", [LIST, read_url(1)])
def test_options_is_never_a_server_error(api, url):
    response = api.options(url)

    # 405 while OPTIONS introspection is off (DEFAULT_METADATA_CLASS), 200 if on
    assert response.status_code in {200, 405}
    assert response["Content-Type"] == "application/json"
