"""The nightly tier review and the monthly tier perks, with a fixed clock.

The program here: a 30-day qualification window and a 7-day grace period;
most tests lower the visit thresholds (Silver 1, Gold 2, Platinum 3 visits) so
a few visits of the 3 000.00 ``service`` place a member on any tier.
"""

from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from members.models import Member
from members.services import VisitLineInput
from rewards.jobs import job_run
from rewards.models import Tier, TierChange, Voucher, Wallet
from rewards.services import batch
from rewards.verify import ledger_verify
from tests.conftest import moscow
from tests.factories import MemberFactory, RewardFactory
from tests.rewards.conftest import program_set, row_counts, tier, tier_set, wallet_of

pytestmark = pytest.mark.django_db

T0 = moscow(2025, 1, 10, 12, 0)
D0 = date(2025, 1, 10)
Reason = TierChange.Reason


@pytest.fixture(autouse=True)
def program(program_defaults):
    with time_machine.travel(T0, tick=False):
        program_set(tier_window_days=30, tier_grace_days=7)
        yield


@contextmanager
def at(day: date, hour: int = 0, minute: int = 10):
    with time_machine.travel(
        moscow(day.year, day.month, day.day, hour, minute), tick=False
    ):
        yield


def days(n: int) -> date:
    return D0 + timedelta(days=n)


def run(name: str, day: date, *, force: bool = False) -> dict:
    with at(day):
        outcome = job_run(name, day, force=force)
    assert outcome.status == "done", outcome
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    return outcome.result


def review(day: date) -> dict:
    return run("review_tiers", day)


def thresholds(silver=1, gold=2, platinum=3) -> None:
    for code, visits in (("silver", silver), ("gold", gold), ("platinum", platinum)):
        Tier.objects.filter(code=code).update(min_visits=visits)


def tier_code(member) -> str:
    return wallet_of(member).tier.code


def history(member) -> list[tuple[str, str, str]]:
    return [
        (c.from_tier.code if c.from_tier else "", c.to_tier.code, c.reason)
        for c in TierChange.objects.filter(member=member).order_by("changed_at", "id")
    ]


# --- Downgrades: after the window lapses and the grace period, one step -------


def test_downgrade_only_after_grace_and_one_step_at_a_time(member, record_visit):
    # Given a member on Gold from two visits on day 0
    thresholds()
    record_visit(member)
    record_visit(member)
    assert tier_code(member) == "gold"

    # While the visits are in the 30-day window nothing changes
    assert review(days(29))["at_risk"] == 0
    assert wallet_of(member).tier_at_risk_since is None

    # The first night they are out, the member is marked at risk, still Gold
    assert review(days(30))["at_risk"] == 1
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_at_risk_since) == ("gold", days(30))

    # Through the grace period: still Gold
    assert review(days(36))["downgraded"] == 0
    assert tier_code(member) == "gold"

    # When the grace period is over: down ONE step, to Silver
    assert review(days(37))["downgraded"] == 1
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_at_risk_since) == ("silver", None)
    assert wallet.tier_since == moscow(2025, 2, 16, 0, 10)

    # And Silver gets its own grace period before Base
    review(days(38))
    assert wallet_of(member).tier_at_risk_since == days(38)
    review(days(44))
    assert tier_code(member) == "silver"
    review(days(45))
    assert tier_code(member) == "base"
    assert history(member)[-2:] == [
        ("gold", "silver", Reason.DOWNGRADE),
        ("silver", "base", Reason.DOWNGRADE),
    ]


def test_a_member_qualifying_again_while_at_risk_is_no_longer_at_risk(
    member, record_visit
):
    thresholds()
    record_visit(member)
    record_visit(member)
    review(days(30))
    assert wallet_of(member).tier_at_risk_since == days(30)

    # When Gold's threshold drops to what the member now does
    with at(days(31), 12):
        record_visit(member)
    Tier.objects.filter(code="gold").update(min_visits=1)
    result = review(days(32))

    assert (result["recovered"], result["downgraded"]) == (1, 0)
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_at_risk_since) == ("gold", None)


def test_a_second_review_the_same_night_changes_nothing(member, record_visit):
    thresholds()
    record_visit(member)
    record_visit(member)
    others = MemberFactory.create_batch(3)
    review(days(30))
    before = (row_counts(), list(Wallet.objects.order_by("pk").values()))

    with at(days(30), 4):
        result = batch.tiers_review(on=days(30))

    assert result == {
        "wallets_created": 0,
        "upgraded": 0,
        "downgraded": 0,
        "changed_after_override": 0,
        "overrides_ended": 0,
        "at_risk": 0,
        "recovered": 0,
    }
    assert (row_counts(), list(Wallet.objects.order_by("pk").values())) == before
    assert len(others) == 3


# --- Overrides ----------------------------------------------------------------


def test_a_managers_override_holds_until_its_end_date(member):
    # Given a member set to Platinum until day 40, without the visits for it
    tier_set(member, "platinum", until=days(40))

    review(days(20))
    review(days(40))
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_at_risk_since) == ("platinum", None)

    # The day after: the override is cleared and the rules apply again
    result = review(days(41))
    assert result["overrides_ended"] == 1
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_override_until) == ("platinum", None)
    assert wallet.tier_at_risk_since == days(41)
    review(days(48))
    assert tier_code(member) == "gold"
    assert history(member)[-1] == ("platinum", "gold", Reason.DOWNGRADE)


def test_when_an_override_below_the_members_tier_ends_they_go_back_up(
    member, record_visit
):
    thresholds()
    for _ in range(3):
        record_visit(member)
    tier_set(member, "base", until=days(5))

    review(days(5))
    assert tier_code(member) == "base"
    result = review(days(6))

    assert result["changed_after_override"] == 1
    assert tier_code(member) == "platinum"
    assert history(member)[-1] == ("base", "platinum", Reason.OVERRIDE_ENDED)


# --- Upgrades and new wallets ---------------------------------------------------


def test_the_review_upgrades_a_member_whose_tier_became_reachable(member, record_visit):
    thresholds(silver=6, gold=10, platinum=20)
    for _ in range(5):
        record_visit(member)
    assert tier_code(member) == "base"

    Tier.objects.filter(code="silver").update(min_visits=5)
    result = review(days(1))

    assert result["upgraded"] == 1
    wallet = wallet_of(member)
    assert (wallet.tier.code, wallet.tier_since) == (
        "silver",
        moscow(2025, 1, 11, 0, 10),
    )
    assert history(member)[-1] == ("base", "silver", Reason.UPGRADE)


def test_spend_meeting_a_threshold_exactly_qualifies(member, record_visit, service):
    # Given Silver by spend only, not yet a threshold when the visit was paid
    Tier.objects.filter(code="silver").update(min_spend=None, min_visits=5)
    record_visit(
        member, lines=[VisitLineInput(service=service, price=Decimal("19999.99"))]
    )
    record_visit(member, lines=[VisitLineInput(service=service, price=Decimal("0.01"))])
    assert tier_code(member) == "base"

    Tier.objects.filter(code="silver").update(min_spend=Decimal("20000.00"))
    review(days(1))

    assert tier_code(member) == "silver"


def test_members_without_a_wallet_get_one_at_the_base_tier(member, record_visit):
    record_visit(member)
    newcomers = MemberFactory.create_batch(2)

    result = review(days(1))

    assert result["wallets_created"] == 2
    for newcomer in newcomers:
        wallet = wallet_of(newcomer)
        assert (wallet.tier.code, wallet.available, wallet.seq) == ("base", 0, 0)
        assert history(newcomer) == [("", "base", Reason.JOINED)]
    assert review(days(2))["wallets_created"] == 0


# --- Monthly tier perks -----------------------------------------------------


@pytest.fixture
def gold_perk(db):
    reward = RewardFactory(free_service=True, points_cost=0, voucher_valid_days=31)
    gold = tier("gold")
    gold.monthly_reward = reward
    gold.save()
    return reward


def test_tier_perks_are_issued_on_the_first_of_the_month_only_and_once(gold_perk):
    gold_member, base_member = MemberFactory.create_batch(2)
    tier_set(gold_member, "gold")
    tier_set(base_member, "base")
    blocked = MemberFactory(status=Member.Status.BLOCKED)
    tier_set(blocked, "gold")

    assert run("issue_tier_perks", date(2025, 2, 2)) == {
        "skipped": "not the 1st of the month",
        "vouchers": 0,
    }
    assert not Voucher.objects.exists()

    result = run("issue_tier_perks", date(2025, 3, 1))

    assert result == {"vouchers": 1, "month": "2025-03"}
    voucher = Voucher.objects.get()
    assert voucher.member == gold_member
    assert voucher.reward == gold_perk
    assert (voucher.source, voucher.points_cost) == (Voucher.Source.TIER_PERK, 0)
    assert voucher.status == Voucher.Status.ACTIVE
    assert voucher.idempotency_key == f"perk:{gold_member.pk}:2025-03"
    assert voucher.valid_until == moscow(2025, 4, 1, 0, 10)
    # And once only, however many times it runs
    assert run("issue_tier_perks", date(2025, 3, 1), force=True)["vouchers"] == 0
    assert Voucher.objects.count() == 1
    # Next month, the next perk
    assert run("issue_tier_perks", date(2025, 4, 1))["vouchers"] == 1


def test_tier_perks_in_batches_give_every_member_a_code_of_their_own(
    gold_perk, monkeypatch
):
    monkeypatch.setattr(batch.tiers, "PERK_BATCH", 2)
    members = MemberFactory.create_batch(5)
    for m in members:
        tier_set(m, "gold")

    assert run("issue_tier_perks", date(2025, 3, 1))["vouchers"] == 5

    assert Voucher.objects.values("code").distinct().count() == 5
    assert set(Voucher.objects.values_list("member", flat=True)) == {
        m.pk for m in members
    }
