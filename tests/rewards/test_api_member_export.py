"""``rewards.export.export_section``: the rewards part of GET me/export."""

import json
from datetime import date, timedelta

import pytest
import time_machine
from django.utils import translation

from rewards.export import export_section
from rewards.services import reward_redeem, voucher_cancel
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import adjust, give_points, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def test_the_export_holds_the_members_whole_points_story(member, record_visit):
    # Given a visit, a bonus, a deduction, a tier override, two vouchers
    record_visit(member, paid_at=NOW - timedelta(days=2))
    give_points(member, 100, lifetime_days=10)
    adjust(member, -20, reason="Typo")
    tier_set(member, "gold", until=date(2025, 12, 31))
    kept = reward_redeem(
        member=member, reward=RewardFactory(name="Aroma"), idempotency_key="a"
    )
    voucher_cancel(
        voucher=reward_redeem(
            member=member, reward=RewardFactory(name="Stones"), idempotency_key="b"
        )
    )
    bought_by_someone_else = MemberFactory()
    give_points(bought_by_someone_else, 999)

    section = export_section(member)

    # Then it is plain JSON
    assert json.loads(json.dumps(section)) == section
    assert set(section) == {"wallet", "tier", "ledger", "lots", "vouchers"}
    # Balances: 150 earned + 100 bonus - 20 - 100 (Aroma); Stones came back
    assert section["wallet"] == {
        "available": 130,
        "pending": 0,
        "debt": 0,
        "money_value": "130.00",
    }
    # The tier with its history, oldest first
    assert section["tier"]["current"]["code"] == "gold"
    assert section["tier"]["fixed_until"] == "2025-12-31"
    assert [
        (c["from_tier"], c["to_tier"], c["reason"]) for c in section["tier"]["history"]
    ] == [
        (None, "Base", "joined"),
        ("Base", "Gold", "override"),
    ]
    # Every entry, oldest first, explained
    ledger = section["ledger"]
    assert [e["seq"] for e in ledger] == [1, 2, 3, 4, 5, 6]
    assert [e["kind"] for e in ledger] == [
        "earn",
        "bonus",
        "adjust",
        "spend",
        "spend",
        "reverse",
    ]
    assert ledger[2]["explanation"] == "20 points removed by the salon: Typo"
    assert all(e["explanation"] for e in ledger)
    # Lots: the visit's and the bonus's
    lots = section["lots"]
    assert (lots["count"], lots["credited"], lots["remaining"]) == (2, 250, 130)
    # Spending drew the soonest-expiring lot (the bonus) first
    assert [(r["points"], r["pending"]) for r in lots["open"]] == [(130, False)]
    # Vouchers, oldest first, with their codes and statuses
    assert [(v["reward"]["name"], v["status"]) for v in section["vouchers"]] == [
        ("Aroma", "active"),
        ("Stones", "cancelled"),
    ]
    assert section["vouchers"][0]["code"] == kept.code


def test_the_export_of_a_member_with_nothing_yet(member):
    section = export_section(member)

    assert section["wallet"]["available"] == 0
    assert section["tier"]["current"]["code"] == "base"
    assert section["tier"]["history"] == []
    assert (section["ledger"], section["vouchers"]) == ([], [])
    assert section["lots"] == {
        "count": 0,
        "credited": 0,
        "remaining": 0,
        "expired": 0,
        "open": [],
    }


def test_the_export_speaks_the_active_language(member):
    give_points(member, 100)

    with translation.override("ru"):
        section = export_section(member)

    assert section["ledger"][0]["explanation"] == "Бонус: 100 баллов"


def test_the_export_never_holds_another_members_rows(member):
    other = MemberFactory()
    give_points(other, 100)
    reward_redeem(member=other, reward=RewardFactory(), idempotency_key="x")

    section = export_section(member)

    assert (section["ledger"], section["vouchers"]) == ([], [])
