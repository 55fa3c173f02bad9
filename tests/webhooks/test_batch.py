"""The nightly set-based jobs emit in bulk: the tier review and the monthly
tier perks (the points expiry is in test_hooks)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from rewards.models import Tier, Voucher
from rewards.services import batch
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import (  # noqa: F401 - a fixture
    program_defaults,
    tier_set,
)
from webhooks.models import Event

pytestmark = pytest.mark.usefixtures("program_defaults")


def events(type_: str) -> list[dict]:
    return [e.data for e in Event.objects.filter(type=type_)]


def test_the_tier_review_emits_tier_changed(make_endpoint, record_visit):
    # Given a member kept on the base tier by a manager until the 12th, whose
    # visit qualifies them for Silver
    make_endpoint(events=["tier.changed"])
    Tier.objects.filter(code="silver").update(min_visits=1)
    member = MemberFactory()
    with time_machine.travel(moscow(2025, 1, 10, 12, 0), tick=False):
        tier_set(member, "base", until=date(2025, 1, 12))
        record_visit(member)
    Event.objects.all().delete()  # the manager's own change

    # When the review runs after the override ended
    with time_machine.travel(moscow(2025, 1, 13, 0, 10), tick=False):
        assert batch.tiers_review(on=date(2025, 1, 13))["changed_after_override"] == 1

    # Then one tier.changed event says so
    assert events("tier.changed") == [
        {
            "member_id": member.pk,
            "from": "base",
            "to": "silver",
            "reason": "override_ended",
            "visit_id": None,
        }
    ]


def test_monthly_perks_emit_voucher_issued(make_endpoint):
    make_endpoint(events=["voucher.issued"])
    reward = RewardFactory(partner=True, points_cost=0, name="Tea")
    gold = Tier.objects.get(code="gold")
    gold.monthly_reward = reward
    gold.save()
    member = MemberFactory()
    with time_machine.travel(moscow(2025, 2, 20, 12, 0), tick=False):
        tier_set(member, "gold")

    with time_machine.travel(moscow(2025, 3, 1, 0, 10), tick=False):
        assert batch.tier_perks_issue(on=date(2025, 3, 1))["vouchers"] == 1
        # A second run issues nothing, and emits nothing
        assert batch.tier_perks_issue(on=date(2025, 3, 1))["vouchers"] == 0

    voucher = Voucher.objects.get()
    [data] = events("voucher.issued")
    assert (data["voucher_id"], data["member_id"]) == (voucher.pk, member.pk)
    assert (data["source"], data["reward"]) == ("tier_perk", "Tea")
    assert data["valid_until"] is not None
    assert timedelta(0) < voucher.valid_until - voucher.issued_at
