"""Every entry and benefit explains itself in words a member understands.

The exact English sentences are asserted: they are what the member reads (the
Russian ones come from the translation files).
"""

from decimal import Decimal

import pytest
import time_machine

from members import services as members_services
from members.services import VisitLineInput
from rewards.benefits import benefit_text
from rewards.explain import earn_text, entry_text
from rewards.models import LedgerEntry
from rewards.services import reward_redeem, voucher_cancel
from tests.conftest import moscow
from tests.factories import RewardFactory
from tests.rewards.conftest import adjust, entries, give_points, program_set, tier_set

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def last_text(member) -> str:
    return entry_text(entries(member)[-1])


def texts(member, kind) -> list[str]:
    return [entry_text(e) for e in entries(member) if e.kind == kind]


# --- Earning ----------------------------------------------------------------


def test_points_earned_on_a_visit(member, record_visit):
    record_visit(member, paid_at=moscow(2025, 6, 9, 19, 0))

    assert last_text(member) == (
        "150 points for the visit on 9 June 2025: 3,000.00 × 5 points per 100 (Base)"
    )


def test_points_earned_by_a_tier_with_a_multiplier(member, record_visit):
    tier_set(member, "silver")

    record_visit(member)

    assert last_text(member) == (
        "187 points for the visit on 10 June 2025: "
        "3,000.00 × 6.25 points per 100 (Silver)"
    )


def test_cashback_held_pending(member, record_visit):
    program_set(earn_mode="cashback", earn_rate=Decimal("10"), pending_days=3)

    record_visit(member)

    assert last_text(member) == (
        "300 points for the visit on 10 June 2025: 3,000.00 × 10% cashback (Base) "
        "— spendable after 3 days"
    )


def test_one_point_is_singular(member, record_visit):
    record_visit(member, amount_paid="20")

    assert last_text(member).startswith("1 point for the visit on 10 June 2025")


# --- Spending and getting back ----------------------------------------------


def test_points_paid_on_a_visit_and_given_back_on_cancel(member, checkout):
    give_points(member, 1000)
    visit = checkout(member, points_to_use=200).visit

    assert texts(member, Kind.SPEND) == [
        "200 points paid 200.00 of the visit on 10 June 2025"
    ]

    members_services.visit_cancel(visit=visit)

    # 3000 − 5% welcome − 200 in points = 2650 paid, earning 132
    assert texts(member, Kind.REVERSE) == [
        f"200 points back: visit #{visit.pk} was cancelled",
        f"132 points taken back: visit #{visit.pk} was cancelled",
    ]


def test_a_reward_bought_and_cancelled(member):
    give_points(member, 1000)
    voucher = reward_redeem(
        member=member,
        reward=RewardFactory(name="Herbal tea ceremony", points_cost=900),
        idempotency_key="k",
    )

    assert last_text(member) == (
        f"900 points for the reward “Herbal tea ceremony” (voucher {voucher.code})"
    )

    voucher_cancel(voucher=voucher)

    assert last_text(member) == f"900 points back: voucher {voucher.code} cancelled"


# --- A refund after the points were spent: the debt -------------------------


def test_a_refund_that_leaves_a_debt_says_so_and_the_settlement_too(
    member, record_visit
):
    visit = record_visit(member)
    adjust(member, -100, reason="Gift card")

    members_services.visit_refund(visit=visit)

    assert last_text(member) == (
        f"150 points taken back: visit #{visit.pk} was refunded "
        "(100 points were already spent: they will be settled from future points)"
    )

    give_points(member, 250)

    assert last_text(member) == "100 points settled an earlier points debt"


# --- Manual adjustments -----------------------------------------------------


def test_adjustments_say_which_way_and_why(member, manager):
    adjust(member, 500, actor=manager, reason="Apology for the wait")
    adjust(member, -1, actor=manager, reason="Typo fixed")

    assert texts(member, Kind.ADJUST) == [
        "500 points added by the salon: Apology for the wait",
        "1 point removed by the salon: Typo fixed",
    ]


# --- Checkout benefits and the earn preview ---------------------------------


@pytest.mark.parametrize(
    "reason, params, text",
    [
        (
            "tier_discount",
            {"tier": "Gold", "percent": "15.00"},
            "Gold tier discount 15%",
        ),
        (
            "first_visit_discount",
            {"percent": "5.00"},
            "Welcome discount 5% on the first visit",
        ),
        (
            "points_payment",
            {"points": 1500, "money": "1500.00"},
            "1,500 points (1,500.00\u00a0₽)",
        ),
        (
            "voucher_percent_discount",
            {"code": "K7M2Q9X4PA", "reward": "10% off", "percent": "10.00"},
            "Voucher K7M2Q9X4PA: 10% off",
        ),
        (
            "voucher_free_service",
            {"code": "K7M2Q9X4PA", "reward": "Free 30-minute massage"},
            "Voucher K7M2Q9X4PA: Free 30-minute massage",
        ),
    ],
    ids=["tier", "first-visit", "points", "percent-voucher", "free-service"],
)
def test_benefits_read_well(reason, params, text):
    assert benefit_text(reason, params) == text


def test_the_quote_says_how_the_points_to_earn_are_counted(
    member, quote, service, addon
):
    tier_set(member, "silver")

    q = quote(
        member,
        lines=[VisitLineInput(service=service), VisitLineInput(service=addon)],
    )

    # 3500 − 10% = 3150 paid; 3150 × 5 × 1.25 / 100 = 196.875
    assert earn_text(q.earn) == (
        "196 points: 3,150.00 paid × 6.25 points per 100 (Silver ×1.25 included)"
    )
    assert [b.explanation for b in q.benefits] == ["Silver tier discount 10%"]


def test_a_quote_that_earns_nothing_says_so(member, quote, category):
    program_set(earn_rate=Decimal("0"))

    assert earn_text(quote(member).earn) == "No points for this visit."
