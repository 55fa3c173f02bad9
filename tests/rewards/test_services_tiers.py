"""Tiers: the upgrade on the qualifying visit, never a downgrade there, the
manager's override.

Shipped thresholds (rolling 365 days, either): Silver 5 visits or 20 000,
Gold 15 or 60 000, Platinum 30 or 150 000. The ``service`` fixture is 3000.00.
"""

from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members import services as members_services
from members.services import VisitLineInput
from rewards.models import TierChange, Wallet
from rewards.services import tier_override
from tests.conftest import error_codes, moscow
from tests.rewards.conftest import (
    give_points,
    program_set,
    state_of,
    tier,
    wallet_of,
)

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
TODAY = date(2025, 6, 10)
Reason = TierChange.Reason


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def tier_code(member) -> str:
    return wallet_of(member).tier.code


def history(member) -> list[tuple[str | None, str, str]]:
    return [
        (c.from_tier.code if c.from_tier else None, c.to_tier.code, c.reason)
        for c in TierChange.objects.filter(member=member).order_by("changed_at", "id")
    ]


def visits(record_visit, member, n, *, start=NOW - timedelta(days=60), **kwargs):
    return [
        record_visit(member, paid_at=start + timedelta(days=i), **kwargs)
        for i in range(n)
    ]


# --- Upgrades ---------------------------------------------------------------


def test_the_fifth_visit_makes_the_member_silver_at_once(member, record_visit):
    # Given four visits (12 000 paid): still Base
    visits(record_visit, member, 4)
    assert tier_code(member) == "base"

    # When the fifth is recorded
    fifth = record_visit(member)

    # Then the member is Silver from that visit, and the history says why
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_since) == ("silver", NOW)
    assert history(member) == [
        (None, "base", Reason.JOINED),
        ("base", "silver", Reason.UPGRADE),
    ]
    assert TierChange.objects.get(reason=Reason.UPGRADE).visit == fifth


def test_spend_qualifies_too_and_can_skip_a_tier(member, record_visit, service):
    # One visit paying 60 000 reaches Gold straight from Base
    record_visit(member, lines=[VisitLineInput(service=service, quantity=20)])

    assert tier_code(member) == "gold"
    assert history(member)[-1] == ("base", "gold", Reason.UPGRADE)


def test_visits_outside_the_window_do_not_count(member, record_visit):
    visits(record_visit, member, 4, start=NOW - timedelta(days=400))

    record_visit(member)

    assert tier_code(member) == "base"


def test_cancelled_visits_do_not_count(member, record_visit):
    first, *_ = visits(record_visit, member, 4)
    members_services.visit_cancel(visit=first)

    record_visit(member)

    assert tier_code(member) == "base"


def test_the_window_length_comes_from_the_settings(member, record_visit):
    program_set(tier_window_days=30)
    visits(record_visit, member, 4, start=NOW - timedelta(days=45))

    record_visit(member)

    assert tier_code(member) == "base"


# --- Never down on a visit --------------------------------------------------


def test_a_visit_never_moves_a_member_down(member, record_visit):
    # Given a Gold member (a manager's choice that ended yesterday)
    tier_override(
        member=member, tier=tier("gold"), until=TODAY, reason="VIP", actor=None
    )

    # When, the next day, a visit is recorded that qualifies for Silver only
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        visits(record_visit, member, 5, start=NOW - timedelta(days=10))

    # Then the member stays Gold: downgrades are the nightly review's
    assert tier_code(member) == "gold"
    assert history(member)[-1][2] == Reason.OVERRIDE


def test_a_qualifying_visit_clears_the_at_risk_mark(member, record_visit):
    visits(record_visit, member, 5)
    assert tier_code(member) == "silver"
    Wallet.objects.filter(pk=member.pk).update(tier_at_risk_since=date(2025, 6, 1))

    record_visit(member)

    assert wallet_of(member).tier_at_risk_since is None


# --- The manager's override -------------------------------------------------


def test_an_override_holds_the_tier_until_its_end(member, record_visit, manager):
    # Given a member held on Base until 20 June
    change = tier_override(
        member=member,
        tier=tier("base"),
        until=date(2025, 6, 20),
        reason="  Staff account ",
        actor=manager,
    )
    assert (change.reason, change.note, change.actor) == (
        Reason.OVERRIDE,
        "Staff account",
        manager,
    )

    # When five visits are recorded before then, the override holds
    visits(record_visit, member, 5)
    assert tier_code(member) == "base"
    assert wallet_of(member).tier_override_until == date(2025, 6, 20)

    # And on the day after it ends, the next visit upgrades
    with time_machine.travel(moscow(2025, 6, 21, 12, 0), tick=False):
        record_visit(member)
    assert tier_code(member) == "silver"


def test_an_override_can_lift_a_member(member, manager):
    tier_override(
        member=member,
        tier=tier("platinum"),
        until=date(2025, 12, 31),
        reason="Ambassador",
        actor=manager,
    )

    assert tier_code(member) == "platinum"
    assert history(member) == [
        (None, "base", Reason.JOINED),
        ("base", "platinum", Reason.OVERRIDE),
    ]


@pytest.mark.parametrize(
    "until, reason, code",
    [
        (date(2025, 12, 31), "", "required"),
        (date(2025, 12, 31), "   ", "required"),
        (date(2025, 6, 9), "Ambassador", "past"),
    ],
    ids=["no-reason", "blank-reason", "past-date"],
)
def test_an_override_needs_a_reason_and_an_end_date_ahead(
    member, manager, until, reason, code
):
    give_points(member, 10)  # the member has a wallet
    before = state_of(member)

    with pytest.raises(ValidationError) as caught:
        tier_override(
            member=member, tier=tier("gold"), until=until, reason=reason, actor=manager
        )

    assert error_codes(caught.value) == {code}
    assert state_of(member) == before
    assert TierChange.objects.filter(reason=Reason.OVERRIDE).count() == 0


def test_a_new_wallet_starts_at_base_and_records_it(member):
    give_points(member, 10)

    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_since) == ("base", NOW)
    assert history(member) == [(None, "base", Reason.JOINED)]
