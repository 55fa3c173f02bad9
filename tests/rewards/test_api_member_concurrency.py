"""POST rewards/{id}/redeem under parallel requests: real threads, each with its
own API client and database connection, on PostgreSQL.

The app retries a redemption whenever the network hiccups; fifty copies of one
request must buy one voucher and all get the same answer.
"""

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from members import access
from rewards.models import LedgerEntry, Voucher
from tests.factories import RewardFactory
from tests.rewards.conftest import assert_books_balance, balances, give_points

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def shipped_program(program_defaults):
    """Transactional tests empty the tables: put the tiers and settings back."""


def post_together(requests: list[tuple[str, str]], raw_token: str):
    """POST each (url, idempotency key) from its own thread and client, released
    together. Returns [(status, body)] in the order given."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(i, url, key):
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
            barrier.wait(timeout=30)
            response = client.post(url, HTTP_IDEMPOTENCY_KEY=key)
            results[i] = (response.status_code, response.json())
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[i] = ("error", repr(exc))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(i, url, key))
        for i, (url, key) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def test_fifty_copies_of_one_redemption_buy_one_voucher_and_answer_alike(member):
    # Given 1 000 points and a reward of 100
    give_points(member, 1000)
    reward = RewardFactory(points_cost=100, stock=10)
    _token, raw = access.token_issue(member=member)
    url = f"/api/v1/rewards/{reward.pk}/redeem"

    # When the app sends the same redemption 50 times at once
    results = post_together([(url, "retry-me")] * 50, raw)

    # Then one voucher, one debit, and fifty identical 201 answers
    assert Counter(status for status, _body in results) == {201: 50}, results[:3]
    assert len({repr(body) for _status, body in results}) == 1
    voucher = Voucher.objects.get(member=member)
    assert results[0][1]["voucher"]["id"] == voucher.pk
    assert LedgerEntry.objects.filter(member=member, kind="spend").count() == 1
    assert balances(member) == (900, 0, 0)
    assert type(reward).objects.get(pk=reward.pk).stock == 9
    assert_books_balance(member)


def test_two_keys_racing_for_the_last_points_one_wins(member):
    # Given points for exactly one reward
    give_points(member, 100)
    reward = RewardFactory(points_cost=100)
    _token, raw = access.token_issue(member=member)
    url = f"/api/v1/rewards/{reward.pk}/redeem"

    # When two different redemptions arrive at once
    results = post_together([(url, "phone"), (url, "tablet")], raw)

    # Then one voucher; the other is told the points do not cover it
    statuses = sorted(status for status, _body in results)
    assert statuses == [201, 400], results
    refused = next(body for status, body in results if status == 400)
    assert refused["code"] == "points_insufficient"
    assert Voucher.objects.filter(member=member).count() == 1
    assert balances(member) == (0, 0, 0)
    assert_books_balance(member)
