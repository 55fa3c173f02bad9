"""A booking sent many times at once over HTTP: one visit, one earn, one answer.

Real threads, each with its own API client and database connection, released
together at a barrier; PostgreSQL only (SQLite has no row locks to race on).
"""

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from members import access
from members.models import Visit
from rewards.models import LedgerEntry, Voucher
from rewards.services import voucher_issue
from tests.factories import LocationFactory, RewardFactory
from tests.members.test_concurrency import errors_of, race
from tests.rewards.conftest import assert_books_balance, balances, give_points

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]

REQUESTS = 50


@pytest.fixture(autouse=True)
def shipped_program(program_defaults):
    """Transactional tests empty the tables: put the tiers and settings back."""


def client_for(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


def test_fifty_parallel_posts_of_one_booking_record_it_once(member, location, service):
    # Given a member with points and a voucher, and the till's key
    give_points(member, 1000)
    voucher = voucher_issue(
        member=member,
        reward=RewardFactory(),
        key="race-voucher",
        source=Voucher.Source.MANUAL,
    )
    _key, raw = access.api_key_issue(location=location, name="till")
    body = {
        "member_id": member.pk,
        "external_id": "B-race",
        "lines": [{"service": service.code}],
        "voucher_codes": [voucher.code],
        "points_to_use": 100,
    }

    # When 50 clients send the same booking at once
    outcomes = race(
        REQUESTS, lambda _i: client_for(raw).post(reverse("pos-visits"), body)
    )

    # Then one visit, one earn, one spend, and 50 identical 201 answers
    assert errors_of(outcomes) == []
    responses = [response for _kind, response in outcomes]
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum(r.has_header("Idempotent-Replayed") for r in responses) == REQUESTS - 1
    visit = Visit.objects.get(external_id="B-race")
    assert Visit.objects.filter(member=member).count() == 1
    entries = LedgerEntry.objects.filter(visit=visit)
    assert entries.filter(kind=LedgerEntry.Kind.EARN).count() == 1
    assert entries.filter(kind=LedgerEntry.Kind.SPEND).count() == 1
    assert Voucher.objects.get(pk=voucher.pk).visit == visit
    # 3000 − 5% welcome − 10% voucher = 2565 − 100 points = 2465 paid: 123 earned
    assert balances(member) == (1023, 0, 0)
    assert_books_balance(member)


def test_one_booking_id_sent_by_two_locations_at_once_records_one(
    member, location, service
):
    # Given two locations' keys sending the same booking id for one member
    other = LocationFactory()
    keys = [
        access.api_key_issue(location=where, name="till")[1]
        for where in (location, other)
    ]
    body = {
        "member_id": member.pk,
        "external_id": "B-shared",
        "lines": [{"service": service.pk}],
    }

    outcomes = race(
        10, lambda i: client_for(keys[i % 2]).post(reverse("pos-visits"), body)
    )

    # Then one visit: the winner's location answers 201, the other 409
    assert errors_of(outcomes) == []
    visit = Visit.objects.get(external_id="B-shared")
    for i, (_kind, response) in enumerate(outcomes):
        winner = (location, other)[i % 2] == visit.location
        assert response.status_code == (201 if winner else 409), response.json()
    assert LedgerEntry.objects.filter(visit=visit).count() == 1
