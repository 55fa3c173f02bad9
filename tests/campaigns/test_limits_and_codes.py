"""Promo codes, limits and budgets, reversal and replay, through the real
checkout (``checkout_quote`` / ``checkout_commit``) and the visit services
(``visit_cancel`` / ``visit_refund``).

Promotions are 10 % off (300.00 on the 3000.00 massage) unless said otherwise;
members are regulars (one earlier visit that paid nothing). Time: Tuesday
10 June 2025 15:00 Moscow.
"""

import string
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.codes import BATCH_CODE_LENGTH, code_normalize, codes_generate
from campaigns.models import PromoCode, Promotion, Redemption
from members.models import Visit
from members.services import visit_cancel, visit_refund, visit_refund_partial
from rewards.models import LedgerEntry
from rewards.services.vouchers import CODE_ALPHABET
from tests.campaigns.conftest import NOW, live_redemptions, promo_benefits, usage_of
from tests.conftest import error_codes
from tests.factories import MemberFactory, PromoCodeFactory, PromotionFactory
from tests.rewards.conftest import assert_books_balance, balances

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def spring(db):
    """A promotion that needs a code: SPRING25, public, unlimited."""
    promotion = PromotionFactory(name="Spring", code_required=True, percent=D("25"))
    PromoCodeFactory(promotion=promotion, code="SPRING25")
    return promotion


def refusal(call) -> tuple[set[str], str]:
    with pytest.raises(ValidationError) as exc:
        call()
    return error_codes(exc.value), " ".join(exc.value.messages)


# --- 4. Promo codes ------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "SPRING25",
        "spring25",
        " Spring25 ",
        "SPRING-25",
        "spr ing-2 5",
        "s-p-r-i-n-g-2-5",
    ],
)
def test_a_code_however_typed(typed, spring, regular, quote):
    assert promo_benefits(quote(regular, promo_codes=[typed])) == [
        ("Spring", D("750.00"))
    ]


@pytest.mark.parametrize(
    ("text", "normal"),
    [("ab-cd ef", "ABCDEF"), ("  x\ty\n", "XY"), ("", ""), (None, ""), ("--", "")],
)
def test_code_normalize(text, normal):
    assert code_normalize(text) == normal


@pytest.mark.parametrize("typed", [[], [""], ["  "], ["-"]])
def test_no_code_typed_no_promotion(typed, spring, regular, quote):
    assert promo_benefits(quote(regular, promo_codes=typed)) == []


CODE_REFUSALS = [
    # (id, code fields, promotion fields, typed, expected code, words in message)
    ("unknown", {}, {}, ["WINTER25"], "promo_code_not_found", "WINTER25"),
    (
        "expired at valid_until",
        {"valid_until": NOW},
        {},
        ["spring25"],
        "promo_code_expired",
        "SPRING25",
    ),
    (
        "not valid yet",
        {"valid_from": NOW + timedelta(hours=1)},
        {},
        ["spring25"],
        "promo_code_expired",
        "SPRING25",
    ),
    (
        "its promotion ended (status)",
        {},
        {"status": Promotion.Status.ENDED},
        ["spring25"],
        "promo_code_expired",
        "",
    ),
    (
        "its promotion ended (ends_at)",
        {},
        {"ends_at": NOW - timedelta(minutes=1), "starts_at": NOW - timedelta(days=9)},
        ["spring25"],
        "promo_code_expired",
        "",
    ),  # fmt: skip
    (
        "used up",
        {"max_uses": 3, "uses": 3},
        {},
        ["spring25"],
        "promo_code_used_up",
        "SPRING25",
    ),
    (
        "its promotion does not apply: min bill",
        {},
        {"min_bill": D("5000.00")},
        ["spring25"],
        "promo_code_not_applicable",
        "From a bill of 5,000\xa0₽",
    ),
    (
        "its promotion does not apply: weekend only",
        {},
        {"weekdays": "67"},
        ["spring25"],
        "promo_code_not_applicable",
        "day of the week",
    ),
    (
        "its promotion does not apply: not started",
        {},
        {"starts_at": NOW + timedelta(days=2)},
        ["spring25"],
        "promo_code_not_applicable",
        "Starts on 12.06.2025",
    ),
    (
        "its promotion is paused",
        {},
        {"status": Promotion.Status.PAUSED},
        ["spring25"],
        "promo_code_not_applicable",
        "not running",
    ),
    (
        "the same code twice",
        {},
        {},
        ["SPRING25", "spring-25"],
        "promo_code_duplicate",
        "",
    ),
    (
        "six codes",
        {},
        {},
        ["A2", "A3", "A4", "A5", "A6", "A7"],
        "promo_code_too_many",
        "5",
    ),
]


@pytest.mark.parametrize(
    ("code_fields", "promo_fields", "typed", "expected", "words"),
    [c[1:] for c in CODE_REFUSALS],
    ids=[c[0] for c in CODE_REFUSALS],
)
def test_a_code_refused(
    code_fields, promo_fields, typed, expected, words, spring, regular, quote, checkout
):
    PromoCode.objects.filter(code="SPRING25").update(**code_fields)
    Promotion.objects.filter(pk=spring.pk).update(**promo_fields)
    # Another promotion running, so "no promotion at all" is not the reason.
    PromotionFactory(name="Other", percent=D("1"))

    codes, message = refusal(lambda: quote(regular, promo_codes=typed))

    assert codes == {expected}
    assert words in message
    # The commit refuses the same way and records nothing.
    assert refusal(lambda: checkout(regular, promo_codes=typed))[0] == {expected}
    assert Visit.objects.filter(member=regular).count() == 1
    assert Redemption.objects.count() == 0


def test_a_code_refused_when_no_promotion_is_running_at_all(spring, regular, quote):
    Promotion.objects.filter(pk=spring.pk).update(ends_at=NOW - timedelta(hours=1))

    codes, _message = refusal(lambda: quote(regular, promo_codes=["spring25"]))

    assert codes == {"promo_code_expired"}


def test_two_codes_of_one_promotion(spring, regular, quote):
    PromoCodeFactory(promotion=spring, code="SPRING26")

    codes, _ = refusal(lambda: quote(regular, promo_codes=["SPRING25", "SPRING26"]))

    assert codes == {"promo_code_duplicate"}


def test_two_codes_of_two_promotions_both_apply(spring, regular, quote):
    summer = PromotionFactory(
        name="Summer", code_required=True, effect="fixed_bill", percent=None,
        amount=D("100.00"), group=spring.group, priority=200,
    )  # fmt: skip
    PromoCodeFactory(promotion=summer, code="SUMMER")

    q = quote(regular, promo_codes=["summer", "spring25"])

    assert promo_benefits(q) == [("Spring", D("750.00")), ("Summer", D("100.00"))]
    assert {b.params["code"] for b in q.benefits if b.kind == "promotion"} == {
        "SPRING25",
        "SUMMER",
    }


def test_a_single_use_code_used_twice(spring, regular, quote, checkout):
    code = PromoCodeFactory(promotion=spring, code="ONCE2", max_uses=1)
    visit = checkout(regular, promo_codes=["once2"]).visit
    code.refresh_from_db()
    assert code.uses == 1
    assert Redemption.objects.get(visit=visit).code == code

    other = MemberFactory()
    codes, message = refusal(lambda: quote(other, promo_codes=["ONCE2"]))
    assert codes == {"promo_code_used_up"}
    assert "ONCE2" in message
    assert refusal(lambda: checkout(regular, promo_codes=["ONCE2"]))[0] == {
        "promo_code_used_up"
    }


def test_a_public_code_counts_its_uses(spring, regular, checkout):
    checkout(regular, promo_codes=["spring25"])
    checkout(MemberFactory(), promo_codes=["spring-25"])

    assert PromoCode.objects.get(code="SPRING25").uses == 2
    # 750 + 25 % of 2850 (the new member's 5 % first)
    assert usage_of(spring) == (2, D("1462.50"), 0)


def test_codes_generate_makes_unique_single_use_codes_in_the_alphabet(spring):
    until = NOW + timedelta(days=30)

    codes = codes_generate(
        promotion=spring,
        count=300,
        batch="flyers-june",
        prefix="jun-",
        valid_until=until,
    )

    assert len(codes) == 300
    texts = [c.code for c in codes]
    assert len(set(texts)) == 300
    for text in texts:
        assert text.startswith("JUN")
        body = text.removeprefix("JUN")
        assert len(body) == BATCH_CODE_LENGTH
        assert set(body) <= set(CODE_ALPHABET)
        assert not set(body) & set("01OIL")
    stored = PromoCode.objects.filter(batch="flyers-june")
    assert stored.count() == 300
    assert set(stored.values_list("max_uses", "uses", "valid_until")) == {(1, 0, until)}
    assert set(stored.values_list("promotion_id", flat=True)) == {spring.pk}


def test_a_generated_code_works_once(spring, regular, quote, checkout):
    (code,) = codes_generate(promotion=spring, count=1, batch="b")
    typed = "-".join([code.code[:4], code.code[4:].lower()])

    assert promo_benefits(quote(regular, promo_codes=[typed])) == [
        ("Spring", D("750.00"))
    ]
    checkout(regular, promo_codes=[typed])
    assert refusal(lambda: quote(MemberFactory(), promo_codes=[code.code]))[0] == {
        "promo_code_used_up"
    }


@pytest.mark.parametrize("count", [0, -1, 100_001])
def test_codes_generate_refuses_a_bad_count(count, spring):
    with pytest.raises(ValueError):
        codes_generate(promotion=spring, count=count, batch="b")
    assert PromoCode.objects.filter(batch="b").count() == 0


def test_generated_codes_use_only_letters_and_digits():
    assert set(CODE_ALPHABET) <= set(string.ascii_uppercase + string.digits)


# --- 5. Limits ---------------------------------------------------------------------


def test_uses_per_member_in_total(regular, quote, checkout):
    promotion = PromotionFactory(name="Twice", uses_per_member=2)

    for _ in range(2):
        assert promo_benefits(quote(regular)) == [("Twice", D("300.00"))]
        checkout(regular)

    assert promo_benefits(quote(regular)) == []
    third = checkout(regular).visit
    assert third.amount_paid == D("3000.00")
    assert live_redemptions(promotion) == 2
    # Another member still has theirs.
    assert promo_benefits(quote(MemberFactory())) == [("Twice", D("285.00"))]


def test_uses_per_member_per_period(regular, quote, checkout, frozen_clock):
    promotion = PromotionFactory(name="Weekly", uses_per_member_period=1, period_days=7)
    checkout(regular)
    assert promo_benefits(quote(regular)) == []

    frozen_clock.move_to(NOW + timedelta(days=6, hours=23))
    assert promo_benefits(quote(regular)) == []

    frozen_clock.move_to(NOW + timedelta(days=7, minutes=1))
    assert promo_benefits(quote(regular)) == [("Weekly", D("300.00"))]
    checkout(regular)
    assert live_redemptions(promotion) == 2


def test_max_redemptions(regular, quote, checkout):
    promotion = PromotionFactory(name="Only two", max_redemptions=2)
    first, second, third = regular, MemberFactory(), MemberFactory()

    checkout(first)
    checkout(second)

    assert promo_benefits(quote(third)) == []
    assert checkout(third).visit.amount_paid == D("2850.00")  # the 5 % alone
    assert usage_of(promotion) == (2, D("585.00"), 0)


def test_budget_money_the_last_of_it_is_given_then_nothing(regular, quote, checkout):
    promotion = PromotionFactory(name="Budget", budget_money=D("700.00"))
    members = [regular, *(MemberFactory() for _ in range(3))]
    # The new members get 5 % first: 10 % of 2850 = 285.
    checkout(members[0])  # 300
    checkout(members[1])  # 285: 585 spent, 115 left

    q = quote(members[2])
    assert promo_benefits(q) == [("Budget", D("115.00"))]
    assert checkout(members[2]).visit.amount_paid == D("2735.00")
    assert usage_of(promotion) == (3, D("700.00"), 0)

    assert promo_benefits(quote(members[3])) == []


def test_budget_points_of_bonus_points(regular, quote, checkout):
    promotion = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200,
        budget_points=500,
    )  # fmt: skip
    checkout(regular)
    checkout(MemberFactory())
    assert usage_of(promotion) == (2, D("0.00"), 400)

    # 100 left: not enough for 200, so the promotion no longer shows.
    assert promo_benefits(quote(MemberFactory())) == []


def test_budget_points_of_a_multiplier_gives_the_last_of_it(regular, checkout):
    promotion = PromotionFactory(
        name="Double", effect="points_multiplier", percent=None,
        multiplier=D("2"), budget_points=200,
    )  # fmt: skip

    checkout(regular)  # 150 extra
    late = MemberFactory()
    result = checkout(late)  # 142 earned on 2850, 50 extra left in the budget

    assert result.visit.status == Visit.Status.PAID
    bonus = LedgerEntry.objects.get(member=late, kind=LedgerEntry.Kind.BONUS)
    assert bonus.amount == 50
    assert usage_of(promotion) == (2, D("0.00"), 200)


@pytest.mark.parametrize(
    "limits",
    [
        {"max_redemptions": 1},
        {"budget_money": D("300.00")},
        {"uses_per_member": 1},
    ],
    ids=["max_redemptions", "budget_money", "uses_per_member"],
)
def test_a_used_up_promotion_stops_appearing(limits, regular, quote, checkout):
    PromotionFactory(name="Limited", **limits)
    assert promo_benefits(quote(regular)) == [("Limited", D("300.00"))]
    checkout(regular)

    assert promo_benefits(quote(regular)) == []


def test_a_code_of_a_used_up_promotion_says_why(spring, regular, quote, checkout):
    Promotion.objects.filter(pk=spring.pk).update(max_redemptions=1)
    checkout(regular, promo_codes=["spring25"])

    codes, message = refusal(lambda: quote(MemberFactory(), promo_codes=["spring25"]))

    assert codes == {"promo_code_not_applicable"}
    assert "No redemptions left" in message


# --- 6. Reversal and replay ----------------------------------------------------------


@pytest.mark.parametrize(
    "reverse", [visit_cancel, visit_refund], ids=["cancel", "refund"]
)
def test_reversal_gives_everything_back(reverse, spring, regular, checkout):
    bonus = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200,
        group=spring.group, priority=300, max_redemptions=5,
    )  # fmt: skip
    code = PromoCodeFactory(promotion=spring, code="ONCE2", max_uses=1)
    visit = checkout(regular, promo_codes=["once2"]).visit
    assert visit.amount_paid == D("2250.00")
    assert usage_of(spring) == (1, D("750.00"), 0)
    assert usage_of(bonus) == (1, D("0.00"), 200)
    assert balances(regular) == (112 + 200, 0, 0)

    reverse(visit=visit, reason="mistake")

    assert Redemption.objects.filter(visit=visit, reversed_at=NOW).count() == 2
    assert live_redemptions(spring) == live_redemptions(bonus) == 0
    assert usage_of(spring) == (0, D("0.00"), 0)
    assert usage_of(bonus) == (0, D("0.00"), 0)
    code.refresh_from_db()
    assert code.uses == 0
    assert balances(regular) == (0, 0, 0)
    assert_books_balance(regular)

    # A second reversal changes nothing.
    entries = LedgerEntry.objects.count()
    reverse(visit=visit, reason="again")
    assert usage_of(spring) == (0, D("0.00"), 0)
    assert usage_of(bonus) == (0, D("0.00"), 0)
    assert LedgerEntry.objects.count() == entries
    code.refresh_from_db()
    assert code.uses == 0

    # The code, the uses and the budget are there to be used again.
    again = checkout(regular, promo_codes=["ONCE2"]).visit
    assert again.amount_paid == D("2250.00")
    assert usage_of(spring) == (1, D("750.00"), 0)


def test_cancel_then_refund_changes_nothing_more(spring, regular, checkout):
    visit = checkout(regular, promo_codes=["spring25"]).visit
    visit_cancel(visit=visit)

    with pytest.raises(ValidationError):
        visit_refund(visit=visit)

    assert usage_of(spring) == (0, D("0.00"), 0)
    assert PromoCode.objects.get(code="SPRING25").uses == 0


def test_a_reversed_redemption_no_longer_counts_for_the_member(
    regular, quote, checkout
):
    PromotionFactory(name="Once", uses_per_member=1)
    visit = checkout(regular).visit
    assert promo_benefits(quote(regular)) == []

    visit_cancel(visit=visit)

    assert promo_benefits(quote(regular)) == [("Once", D("300.00"))]


def test_a_replayed_checkout_does_not_redeem_twice(spring, regular, checkout):
    Promotion.objects.filter(pk=spring.pk).update(max_redemptions=1)
    PromoCodeFactory(promotion=spring, code="ONCE2", max_uses=1)
    first = checkout(regular, promo_codes=["ONCE2"], external_id="booking-7")

    again = checkout(regular, promo_codes=["once-2"], external_id="booking-7")

    assert (first.created, again.created) == (True, False)
    assert again.visit.pk == first.visit.pk
    assert Redemption.objects.filter(visit=first.visit).count() == 1
    assert usage_of(spring) == (1, D("750.00"), 0)
    assert PromoCode.objects.get(code="ONCE2").uses == 1


def test_a_replay_with_another_code_is_a_conflict(spring, regular, checkout):
    PromoCodeFactory(promotion=spring, code="OTHER2")
    checkout(regular, promo_codes=["SPRING25"], external_id="booking-8")

    codes, _ = refusal(
        lambda: checkout(regular, promo_codes=["OTHER2"], external_id="booking-8")
    )

    assert codes == {"external_id_conflict"}
    assert usage_of(spring) == (1, D("750.00"), 0)


def test_refunding_every_unit_part_by_part_reverses_the_redemption(
    spring, regular, checkout, lines_of
):
    visit = checkout(
        regular, lines=lines_of("massage", "aroma"), promo_codes=["spring25"]
    ).visit
    first, second = visit.lines.order_by("pk")

    visit_refund_partial(visit=visit, lines=[(first, 1)], key="r1")
    # Still paid: the promotion stays used; the massage's 750.00 off is back.
    assert live_redemptions(spring) == 1
    assert usage_of(spring) == (1, D("125.00"), 0)

    visit_refund_partial(visit=visit, lines=[(second, 1)], key="r2")

    assert live_redemptions(spring) == 0
    assert usage_of(spring) == (0, D("0.00"), 0)
    assert PromoCode.objects.get(code="SPRING25").uses == 0
