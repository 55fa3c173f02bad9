"""A partial refund gives back the refunded share of the visit's promotions:
the money off that sat on the refunded units and the bonus points pro rata to
the money refunded go back to the budget and the ledger; the uses, the code's
use and a voucher stay; the reversal after the last unit undoes the rest.

Through the real checkout (``checkout_commit``) and refund services
(``visit_refund_partial`` / ``visit_refund``). Massage 3000.00, aroma 500.00,
facial 2000.00, manicure 1000.00, a special 5000.00 excluded from discounts;
members are regulars (promotions price alone).
"""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from campaigns.flow import CampaignVisitReaction
from campaigns.models import PromoCode, Redemption
from members.models import Visit
from members.services import visit_refund, visit_refund_partial
from members.visit_flow import VisitPartiallyRefunded
from rewards.models import LedgerEntry, Voucher
from rewards.services.points import points_bonus, points_bonus_reverse
from tests.campaigns.conftest import live_redemptions, promo_benefits, usage_of
from tests.factories import (
    MemberFactory,
    PromoCodeFactory,
    PromotionFactory,
    RewardFactory,
)
from tests.rewards.conftest import assert_books_balance, balances

pytestmark = pytest.mark.django_db

D = Decimal


CODES = {"massage": "classic-60", "special": "ny-special"}


def refund(visit, *units, key):
    """``refund(visit, ("massage", 1), key=…)``: units of lines, by service."""
    lines = {ln.service.code: ln for ln in visit.lines.select_related("service")}
    units = [(CODES.get(name, name), qty) for name, qty in units]
    return visit_refund_partial(
        visit=visit, lines=[(lines[code], qty) for code, qty in units], key=key
    )


def redemption_of(promotion) -> Redemption:
    return Redemption.objects.get(promotion=promotion)


def bonus_taken_back(promotion, visit) -> int:
    """Bonus points of the promotion on the visit taken back so far (debts too)."""
    bonus = LedgerEntry.objects.get(
        idempotency_key=f"promo:{promotion.pk}:visit:{visit.pk}"
    )
    return sum(
        int(p["points"])
        for p in LedgerEntry.objects.filter(reverses=bonus).values_list(
            "params", flat=True
        )
    )


# --- Money off -------------------------------------------------------------------


def test_a_refunded_line_gives_back_exactly_its_discount(regular, checkout, lines_of):
    promotion = PromotionFactory(name="Ten")  # 10 % off each line
    visit = checkout(regular, lines=lines_of(("massage", 3), "facial")).visit
    assert usage_of(promotion) == (1, D("1100.00"), 0)  # 900 + 200
    massage, facial = visit.lines.order_by("pk")
    assert redemption_of(promotion).lines == {
        str(massage.pk): "900.00",
        str(facial.pk): "200.00",
    }

    refund(visit, ("facial", 1), key="r1")

    assert usage_of(promotion) == (1, D("900.00"), 0)
    redemption = redemption_of(promotion)
    assert (redemption.money_refunded, redemption.reversed_at) == (D("200.00"), None)

    refund(visit, ("massage", 1), key="r2")  # one unit of three: 300 of its 900

    assert usage_of(promotion) == (1, D("600.00"), 0)
    assert redemption_of(promotion).money_refunded == D("500.00")


def test_a_line_without_discount_gives_nothing_back(regular, checkout, lines_of):
    # The special is excluded from discounts: the 10 % of the bill sat on the
    # massage alone, however big the special's share of the bill.
    promotion = PromotionFactory(name="Bill", effect="percent_bill")
    visit = checkout(regular, lines=lines_of("massage", "special")).visit
    assert usage_of(promotion) == (1, D("300.00"), 0)

    refund(visit, ("special", 1), key="r1")

    assert usage_of(promotion) == (1, D("300.00"), 0)
    assert redemption_of(promotion).money_refunded == D("0.00")


def test_a_bill_discount_comes_back_as_it_was_spread(regular, checkout, lines_of):
    promotion = PromotionFactory(
        name="Hundred off", effect="fixed_bill", percent=None, amount=D("100.00")
    )
    visit = checkout(
        regular, lines=lines_of("massage", "aroma", "manicure")
    ).visit  # 100 over 4500: 66.67 + 11.11 + 22.22

    refund(visit, ("aroma", 1), key="r1")
    assert usage_of(promotion) == (1, D("88.89"), 0)

    refund(visit, ("manicure", 1), key="r2")
    assert usage_of(promotion) == (1, D("66.67"), 0)
    assert redemption_of(promotion).money_refunded == D("33.33")


def test_a_redemption_without_its_lines_gives_back_by_the_gross_share(
    regular, checkout, lines_of
):
    # Redemptions recorded before the lines were kept: pro rata by list price.
    promotion = PromotionFactory(
        name="Hundred off", effect="fixed_bill", percent=None, amount=D("100.00")
    )
    visit = checkout(regular, lines=lines_of("massage", "aroma", "manicure")).visit
    Redemption.objects.filter(promotion=promotion).update(lines={})

    refund(visit, ("aroma", 1), key="r1")  # 100 × 500 / 4500 = 11.11
    assert redemption_of(promotion).money_refunded == D("11.11")

    refund(visit, ("manicure", 1), key="r2")  # 100 × 1500 / 4500 = 33.33 in all
    assert redemption_of(promotion).money_refunded == D("33.33")

    refund(visit, ("massage", 1), key="r3")
    assert usage_of(promotion) == (0, D("0.00"), 0)
    assert redemption_of(promotion).money_refunded == D("100.00")


# --- Bonus points ----------------------------------------------------------------


def test_bonus_points_are_taken_back_pro_rata_to_the_money(regular, checkout, lines_of):
    promotion = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200
    )
    visit = checkout(regular, lines=lines_of(("massage", 2))).visit
    earned = balances(regular)[0]

    r = refund(visit, ("massage", 1), key="r1")

    entry = LedgerEntry.objects.get(
        idempotency_key=f"promo:{promotion.pk}:visit:{visit.pk}:refund:{r.pk}"
    )
    assert entry.amount == -100
    assert entry.reason == "reverse_partial"
    assert usage_of(promotion) == (1, D("0.00"), 100)
    redemption = redemption_of(promotion)
    assert (redemption.points_refunded, redemption.money_refunded) == (100, D("0"))
    # Half the bonus and half the earned points (rewards) went back.
    assert balances(regular)[0] == earned - 100 - 150
    assert_books_balance(regular)


def test_partial_refunds_then_the_last_unit_add_up_exactly(regular, checkout, lines_of):
    discount = PromotionFactory(
        name="Hundred off", effect="fixed_bill", percent=None, amount=D("100.00")
    )
    bonus = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200
    )
    visit = checkout(regular, lines=lines_of("massage", "aroma", "manicure")).visit
    assert visit.amount_paid == D("4400.00")

    refund(visit, ("aroma", 1), key="r1")  # 500 × 4400 / 4500 = 488.89 refunded
    assert redemption_of(bonus).points_refunded == 22  # ⌊200 × 488.89 / 4400⌋
    refund(visit, ("manicure", 1), key="r2")  # 1466.67 refunded in all
    assert redemption_of(bonus).points_refunded == 66
    assert bonus_taken_back(bonus, visit) == 66
    assert usage_of(discount) == (1, D("66.67"), 0)
    assert usage_of(bonus) == (1, D("0.00"), 134)

    refund(visit, ("massage", 1), key="r3")  # the last unit: the visit is refunded

    visit.refresh_from_db()
    assert visit.status == Visit.Status.REFUNDED
    assert usage_of(discount) == usage_of(bonus) == (0, D("0.00"), 0)
    assert live_redemptions(discount) == live_redemptions(bonus) == 0
    assert redemption_of(discount).money_refunded == D("100.00")
    assert bonus_taken_back(bonus, visit) == 200
    assert balances(regular) == (0, 0, 0)
    assert_books_balance(regular)


def test_a_full_refund_after_a_partial_one_undoes_only_the_rest(
    regular, checkout, lines_of
):
    spring = PromotionFactory(name="Spring", code_required=True, percent=D("25"))
    code = PromoCodeFactory(promotion=spring, code="ONCE2", max_uses=1)
    bonus = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200
    )
    visit = checkout(
        regular, lines=lines_of("massage", "aroma"), promo_codes=["once2"]
    ).visit  # 750 + 125 off; 2625 paid

    refund(visit, ("aroma", 1), key="r1")
    assert usage_of(spring) == (1, D("750.00"), 0)
    assert usage_of(bonus) == (1, D("0.00"), 172)  # ⌊200 × 375 / 2625⌋ = 28 back
    assert PromoCode.objects.get(pk=code.pk).uses == 1  # the visit still happened

    visit_refund(visit=visit, reason="changed her mind")

    assert usage_of(spring) == usage_of(bonus) == (0, D("0.00"), 0)
    assert PromoCode.objects.get(pk=code.pk).uses == 0
    assert bonus_taken_back(bonus, visit) == 200
    assert balances(regular) == (0, 0, 0)
    assert_books_balance(regular)


def test_a_voucher_issued_stays_after_a_partial_refund(regular, checkout, lines_of):
    reward = RewardFactory(name="10% off the next visit", points_cost=150)
    promotion = PromotionFactory(
        name="Come back", effect="voucher", percent=None, reward=reward
    )
    visit = checkout(regular, lines=lines_of("massage", "aroma")).visit

    refund(visit, ("aroma", 1), key="r1")

    voucher = Voucher.objects.get(member=regular, source="promotion")
    assert voucher.status == Voucher.Status.ACTIVE
    assert usage_of(promotion) == (1, D("0.00"), 0)


# --- Idempotency -----------------------------------------------------------------


def test_the_same_refund_twice_changes_nothing_more(regular, checkout, lines_of):
    discount = PromotionFactory(name="Ten")
    bonus = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200
    )
    visit = checkout(regular, lines=lines_of("massage", "aroma")).visit
    first = refund(visit, ("aroma", 1), key="r1")
    state = (usage_of(discount), usage_of(bonus), LedgerEntry.objects.count())
    # 50 off the aroma back; ⌊200 × 450 / 3150⌋ = 28 points back.
    assert state[:2] == ((1, D("300.00"), 0), (1, D("0.00"), 172))

    # The refund service returns the first refund for its key…
    assert refund(visit, ("aroma", 1), key="r1").pk == first.pk
    # …and the reaction, called again with the same refund, gives nothing more.
    visit.refresh_from_db()
    CampaignVisitReaction().visit_partially_refunded(
        VisitPartiallyRefunded(visit=visit, refund=first)
    )

    assert (usage_of(discount), usage_of(bonus), LedgerEntry.objects.count()) == state
    assert redemption_of(discount).money_refunded == D("50.00")
    assert redemption_of(bonus).points_refunded == 28
    assert_books_balance(regular)


# --- The budget ------------------------------------------------------------------


def test_the_budget_given_back_lets_another_member_redeem(
    regular, member_as, quote, checkout, lines_of
):
    promotion = PromotionFactory(name="Budget", budget_money=D("350.00"))
    visit = checkout(regular, lines=lines_of("massage", "aroma")).visit  # 300 + 50
    other = member_as("regular")
    assert promo_benefits(quote(other)) == []

    refund(visit, ("massage", 1), key="r1")

    assert usage_of(promotion) == (1, D("50.00"), 0)
    assert promo_benefits(quote(other)) == [("Budget", D("300.00"))]
    assert checkout(other).visit.amount_paid == D("2700.00")
    assert usage_of(promotion) == (2, D("350.00"), 0)


# --- points_bonus_reverse(points=…) ------------------------------------------------


def test_points_bonus_reverse_takes_back_part_then_the_rest():
    member = MemberFactory()
    points_bonus(member=member, points=100, key="b", reason="bonus")

    part = points_bonus_reverse(member=member, bonus_key="b", key="b:1", reason="r",
                                points=30)  # fmt: skip
    again = points_bonus_reverse(member=member, bonus_key="b", key="b:1", reason="r",
                                 points=30)  # fmt: skip
    too_many = points_bonus_reverse(member=member, bonus_key="b", key="b:2",
                                    reason="r", points=500)  # fmt: skip
    nothing = points_bonus_reverse(member=member, bonus_key="b", key="b:3",
                                   reason="r")  # fmt: skip

    assert (part.amount, again.pk) == (-30, part.pk)
    assert too_many.amount == -70  # never more than is left
    assert nothing is None
    assert balances(member) == (0, 0, 0)
    assert_books_balance(member)


# --- Admin -----------------------------------------------------------------------


def test_the_admin_shows_what_partial_refunds_gave_back(regular, checkout, lines_of):
    promotion = PromotionFactory(name="Ten")
    visit = checkout(regular, lines=lines_of("massage", "aroma")).visit
    refund(visit, ("aroma", 1), key="r1")
    admin = Client()
    admin.force_login(
        get_user_model().objects.create_superuser(username="root", password="x")
    )

    page = admin.get(reverse("admin:campaigns_redemption_changelist"))
    detail = admin.get(
        reverse("admin:campaigns_redemption_change", args=[redemption_of(promotion).pk])
    )

    assert page.status_code == detail.status_code == 200
    assert "50" in page.content.decode()
    assert "Money off given back" in detail.content.decode()
    assert "Bonus points taken back" in detail.content.decode()
