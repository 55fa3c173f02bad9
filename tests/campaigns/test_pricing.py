"""Promotions priced by the real checkout: each condition, each effect, stacking.

Tables: every condition row has a case that applies and one that does not;
every effect row states the money off to the kopeck, what the member pays and
the points. A promotion is 10 % off its matching services unless the case says
otherwise; the member is a regular (one earlier visit: no first-visit discount)
unless the case says otherwise. Time: Tuesday 10 June 2025 15:00 Moscow.
"""

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from campaigns.models import PromotionGroup, Redemption
from members.models import Visit
from rewards.models import LedgerEntry, PointLot, Tier, VisitBenefit, Voucher
from rewards.services import voucher_issue
from tests.campaigns.conftest import (
    NOW,
    all_benefits,
    promo_benefits,
    usage_of,
)
from tests.conftest import error_codes, moscow
from tests.factories import (
    LocationFactory,
    PromoCodeFactory,
    PromotionFactory,
    PromotionGroupFactory,
    RewardFactory,
)

pytestmark = pytest.mark.django_db

D = Decimal
Mode = PromotionGroup.Mode


@pytest.fixture
def other_location(db):
    return LocationFactory(name="Chistye Prudy", code="chistye")


@pytest.fixture
def env(catalogue, category, face, nails, location, other_location):
    """Names a case uses for the promotion's condition lists."""
    return {
        "services": catalogue,
        "categories": {"massage": category, "face": face, "nails": nails},
        "locations": {"main": location, "other": other_location},
    }


def promotion_of(env, **fields):
    """A promotion whose many-to-many conditions are given by name."""
    for name in ("services", "excluded_services"):
        if name in fields:
            fields[name] = [env["services"][n] for n in fields[name]]
    for name in ("categories", "excluded_categories", "combo_categories"):
        if name in fields:
            fields[name] = [env["categories"][n] for n in fields[name]]
    if "untried_category" in fields:
        fields["untried_category"] = env["categories"][fields["untried_category"]]
    if "locations" in fields:
        fields["locations"] = [env["locations"][n] for n in fields["locations"]]
    if "tiers" in fields:
        fields["tiers"] = list(Tier.objects.filter(code__in=fields["tiers"]))
    return PromotionFactory(name="Promo", **fields)


# --- 1. Conditions ------------------------------------------------------------


@dataclass(frozen=True)
class Cond:
    id: str
    promo: dict
    lines: tuple = ("massage",)
    who: str = "regular"
    member: dict = field(default_factory=dict)
    at: object = None  # when the quote runs (NOW by default)
    location: str = "main"
    codes: tuple = ()
    off: str | None = "300.00"  # the promotion's money off; None: not applied


H = timedelta(hours=1)

CONDITIONS = [
    Cond("services: included", {"services": ["massage"]}),
    Cond(
        "services: another service only",
        {"services": ["massage"]},
        lines=("facial",),
        off=None,
    ),
    Cond(
        "services: only the included line",
        {"services": ["aroma"]},
        lines=("massage", "aroma"),
        off="50.00",
    ),
    Cond(
        "categories: included",
        {"categories": ["face"]},
        lines=("facial",),
        off="200.00",
    ),
    Cond("categories: other category", {"categories": ["face"]}, off=None),
    Cond(
        "excluded services: the rest is discounted",
        {"excluded_services": ["aroma"]},
        lines=("massage", "aroma"),
    ),
    Cond(
        "excluded services: nothing else on the bill",
        {"excluded_services": ["aroma"]},
        lines=("aroma",),
        off=None,
    ),
    Cond(
        "excluded categories: other category discounted",
        {"excluded_categories": ["massage"]},
        lines=("massage", "facial"),
        off="200.00",
    ),
    Cond(
        "excluded categories: only that category",
        {"excluded_categories": ["massage"]},
        off=None,
    ),
    Cond(
        "excluded service wins over its included category",
        {"categories": ["massage"], "excluded_services": ["aroma"]},
        lines=("massage", "aroma"),
    ),
    Cond("locations: here", {"locations": ["main"]}),
    Cond("locations: elsewhere", {"locations": ["main"]}, location="other", off=None),
    Cond("tiers: silver member", {"tiers": ["silver"]}, who="silver", off="270.00"),
    Cond("tiers: base member", {"tiers": ["silver"]}, off=None),
    Cond("weekdays: Tuesday", {"weekdays": "2"}),
    Cond("weekdays: weekend only", {"weekdays": "67"}, off=None),
    Cond(
        "happy hours: 11:00",
        {"time_from": time(10), "time_to": time(13)},
        at=moscow(2025, 6, 10, 11, 0),
    ),
    Cond(
        "happy hours: from 10:00 sharp",
        {"time_from": time(10), "time_to": time(13)},
        at=moscow(2025, 6, 10, 10, 0),
    ),
    Cond(
        "happy hours: 12:59",
        {"time_from": time(10), "time_to": time(13)},
        at=moscow(2025, 6, 10, 12, 59),
    ),
    Cond(
        "happy hours: 13:00 is over",
        {"time_from": time(10), "time_to": time(13)},
        at=moscow(2025, 6, 10, 13, 0),
        off=None,
    ),
    Cond(
        "happy hours: 09:59 not yet",
        {"time_from": time(10), "time_to": time(13)},
        at=moscow(2025, 6, 10, 9, 59),
        off=None,
    ),
    Cond(
        "happy hours: 15:00 (the afternoon)",
        {"time_from": time(10), "time_to": time(13)},
        off=None,
    ),
    Cond("started an hour ago", {"starts_at": NOW - H}),
    Cond("starts now", {"starts_at": NOW}),
    Cond("starts tomorrow", {"starts_at": NOW + 24 * H}, off=None),
    Cond("ends in a minute", {"ends_at": NOW + timedelta(minutes=1)}),
    Cond("ended just now", {"ends_at": NOW}, off=None),
    Cond("within starts and ends", {"starts_at": NOW - H, "ends_at": NOW + H}),
    Cond(
        "first visit: a new member",
        {"first_visit": True},
        who="new",
        off="285.00",  # 10 % of 2850 (after the 5 % welcome)
    ),
    Cond("first visit: a regular", {"first_visit": True}, off=None),
    Cond("visit number 2: the regular's second", {"nth_visit": 2}),
    Cond("visit number 3: not yet", {"nth_visit": 3}, off=None),
    Cond("visit number 1: a new member", {"nth_visit": 1}, who="new", off="285.00"),
    Cond(
        "min bill: exactly reached",
        {"min_bill": D("3500.00")},
        lines=("massage", "aroma"),
        off="350.00",
    ),  # fmt: skip
    Cond(
        "min bill: a kopeck short",
        {"min_bill": D("3500.01")},
        lines=("massage", "aroma"),
        off=None,
    ),  # fmt: skip
    Cond(
        "min lines 2: two massages",
        {"min_lines": 2},
        lines=(("massage", 2),),
        off="600.00",
    ),  # fmt: skip
    Cond(
        "min lines 2: one matching, one not",
        {"min_lines": 2, "services": ["massage"]},
        lines=("massage", "facial"),
        off=None,
    ),
    Cond(
        "combo: massage and face in one visit",
        {"combo_categories": ["massage", "face"]},
        lines=("massage", "facial"),
        off="500.00",
    ),
    Cond(
        "combo: massage alone",
        {"combo_categories": ["massage", "face"]},
        off=None,
    ),
    Cond(
        "untried category: face, never had",
        {"untried_category": "face", "categories": ["face"]},
        lines=("massage", "facial"),
        off="200.00",
    ),
    Cond(
        "untried category: massage, had it in May",
        {"untried_category": "massage", "categories": ["massage"]},
        off=None,
    ),
    Cond(
        "untried category: face, but not on the bill",
        {"untried_category": "face"},
        off=None,
    ),
    Cond(
        "birthday in 3 days, ±3",
        {"birthday_days": 3},
        member={"birthday": date(1990, 6, 13)},
    ),
    Cond(
        "birthday 3 days ago, ±3",
        {"birthday_days": 3},
        member={"birthday": date(1990, 6, 7)},
    ),
    Cond(
        "birthday in 4 days, ±3",
        {"birthday_days": 3},
        member={"birthday": date(1990, 6, 14)},
        off=None,
    ),
    Cond(
        "birthday unknown",
        {"birthday_days": 3},
        off=None,
    ),
    Cond(
        "birthday 2 January, seen on 30 December",
        {"birthday_days": 3},
        member={"birthday": date(1985, 1, 2)},
        at=moscow(2025, 12, 30, 15, 0),
    ),
    Cond(
        "birthday 30 December, seen on 2 January",
        {"birthday_days": 3},
        member={"birthday": date(1985, 12, 30)},
        at=moscow(2026, 1, 2, 15, 0),
    ),
    Cond(
        "birthday 5 January, seen on 30 December",
        {"birthday_days": 3},
        member={"birthday": date(1985, 1, 5)},
        at=moscow(2025, 12, 30, 15, 0),
        off=None,
    ),
    Cond(
        "birthday 29 February, seen on 27 February of a common year",
        {"birthday_days": 1},
        member={"birthday": date(1992, 2, 29)},
        at=moscow(2025, 2, 27, 15, 0),
    ),
    Cond("code required: typed", {"code_required": True}, codes=("spring-25",)),
    Cond("code required: not typed", {"code_required": True}, off=None),
]


@pytest.mark.parametrize("case", CONDITIONS, ids=lambda c: c.id)
def test_condition(case, env, member_as, quote, lines_of, frozen_clock):
    member = member_as(case.who, **case.member)
    promotion = promotion_of(env, **case.promo)
    if case.codes:
        PromoCodeFactory(promotion=promotion, code="SPRING25")
    if case.at is not None:
        frozen_clock.move_to(case.at)

    q = quote(
        member,
        lines=lines_of(*case.lines),
        location=env["locations"][case.location],
        **({"promo_codes": list(case.codes)} if case.codes else {}),
    )

    expected = [] if case.off is None else [("Promo", D(case.off))]
    assert promo_benefits(q) == expected


def test_a_code_for_a_promotion_that_needs_none_still_applies(regular, quote):
    promotion = PromotionFactory(name="Promo")
    PromoCodeFactory(promotion=promotion, code="OPEN")

    assert promo_benefits(quote(regular, promo_codes=["open"])) == [
        ("Promo", D("300.00"))
    ]


def test_a_paused_or_draft_promotion_never_applies(regular, quote):
    PromotionFactory(name="Paused", status="paused")
    PromotionFactory(name="Draft", status="draft")

    assert promo_benefits(quote(regular)) == []


def test_a_promotion_edited_between_two_quotes_is_read_afresh(regular, quote):
    promotion = PromotionFactory(name="Promo")
    assert promo_benefits(quote(regular)) == [("Promo", D("300.00"))]

    promotion.percent = D("20")
    promotion.save()

    assert promo_benefits(quote(regular)) == [("Promo", D("600.00"))]


# --- 7. Time zones --------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        (moscow(2025, 6, 10, 23, 59), True),
        (moscow(2025, 6, 10, 23, 59, 59), True),
        (moscow(2025, 6, 11, 0, 0), False),
        (moscow(2025, 6, 11, 0, 1), False),
    ],
    ids=["23:59", "23:59:59", "midnight", "00:01"],
)
def test_a_promotion_ending_at_moscow_midnight(
    at, applies, regular, quote, frozen_clock
):
    # 21:00 UTC on 10 June: a server in UTC must not stretch it to 3 a.m.
    PromotionFactory(name="Promo", ends_at=moscow(2025, 6, 11, 0, 0))
    frozen_clock.move_to(at)

    assert promo_benefits(quote(regular)) == (
        [("Promo", D("300.00"))] if applies else []
    )


@pytest.mark.parametrize(
    ("weekdays", "applies"),
    [("3", True), ("2", False)],
    ids=["Wednesday in Moscow", "still Tuesday in UTC"],
)
def test_weekdays_read_in_moscow_time(weekdays, applies, regular, quote, frozen_clock):
    PromotionFactory(name="Promo", weekdays=weekdays)
    frozen_clock.move_to(moscow(2025, 6, 11, 1, 0))  # 22:00 UTC on Tuesday

    assert promo_benefits(quote(regular)) == (
        [("Promo", D("300.00"))] if applies else []
    )


def test_a_birthday_read_in_moscow_time(member_as, quote, frozen_clock):
    PromotionFactory(name="Promo", birthday_days=0)
    member = member_as("regular", birthday=date(1990, 6, 11))
    frozen_clock.move_to(moscow(2025, 6, 11, 0, 30))  # 10 June in UTC

    assert promo_benefits(quote(member)) == [("Promo", D("300.00"))]


def test_happy_hours_read_in_moscow_time_not_utc(regular, quote, frozen_clock):
    PromotionFactory(name="Promo", time_from=time(10), time_to=time(13))
    frozen_clock.move_to(moscow(2025, 6, 10, 12, 30))  # 09:30 UTC

    assert promo_benefits(quote(regular)) == [("Promo", D("300.00"))]


# --- 2. Effects -------------------------------------------------------------------


@dataclass(frozen=True)
class Eff:
    id: str
    promo: dict
    lines: tuple = ("massage",)
    who: str = "regular"
    per_line: dict | None = None  # {line index: money off} of the promotion
    to_pay: str = ""
    earn: int | None = None
    others: tuple = ()  # (kind, amount) of the non-promotion benefits


EFFECTS = [
    Eff(
        "percent of the matching lines",
        {"effect": "percent_lines", "percent": D("20"), "services": ["aroma"]},
        lines=("massage", "aroma"),
        per_line={1: "100.00"},
        to_pay="3400.00",
        earn=170,
    ),
    Eff(
        "percent on quantity",
        {"effect": "percent_lines", "percent": D("15")},
        lines=(("massage", 3),),
        per_line={0: "1350.00"},
        to_pay="7650.00",
    ),
    Eff(
        "percent rounds half up to the kopeck",
        {"effect": "percent_lines", "percent": D("10.30")},
        lines=("aroma",),
        who="new",
        others=(("first_visit", "25.00"),),
        per_line={0: "48.93"},  # 10.30 % of 475.00 = 48.925
        to_pay="426.07",
    ),
    Eff(
        "percent of the bill, never the excluded service",
        {"effect": "percent_bill", "percent": D("10")},
        lines=("massage", "aroma", "special"),
        per_line={0: "300.00", 1: "50.00"},
        to_pay="8150.00",
    ),
    Eff(
        "fixed amount spread pro rata, last line takes the rounding",
        {"effect": "fixed_bill", "amount": D("1000.00")},
        lines=("massage", "aroma"),
        per_line={0: "857.14", 1: "142.86"},
        to_pay="2500.00",
    ),
    Eff(
        "fixed amount never more than the bill",
        {"effect": "fixed_bill", "amount": D("5000.00")},
        lines=("massage", "aroma"),
        per_line={0: "3000.00", 1: "500.00"},
        to_pay="0.00",
        earn=0,
    ),
    Eff(
        "fixed amount skips the excluded service",
        {"effect": "fixed_bill", "amount": D("4000.00")},
        lines=("massage", "special"),
        per_line={0: "3000.00"},
        to_pay="5000.00",
    ),
    Eff(
        "bundle: 3 massages for 8000",
        {"effect": "bundle_price", "bundle_quantity": 3, "amount": D("8000.00")},
        lines=(("massage", 3),),
        per_line={0: "1000.00"},
        to_pay="8000.00",
    ),
    Eff(
        "bundle: 4 massages, three of them for 8000",
        {"effect": "bundle_price", "bundle_quantity": 3, "amount": D("8000.00")},
        lines=(("massage", 4),),
        per_line={0: "1000.00"},
        to_pay="11000.00",
    ),
    Eff(
        "bundle: two massages are not a bundle",
        {"effect": "bundle_price", "bundle_quantity": 3, "amount": D("8000.00")},
        lines=(("massage", 2),),
        per_line=None,
        to_pay="6000.00",
    ),
    Eff(
        "bundle: the dearest units make it, spread by their worth",
        {
            "effect": "bundle_price",
            "bundle_quantity": 3,
            "amount": D("6000.00"),
            "categories": ["massage", "face"],
        },
        lines=("aroma", ("massage", 2), "facial"),
        # massage, massage, facial: 8000 → 6000, 2000 off (6000:2000 = 1500:500)
        per_line={1: "1500.00", 2: "500.00"},
        to_pay="6500.00",
    ),
    Eff(
        "bundle dearer than the services: nothing",
        {"effect": "bundle_price", "bundle_quantity": 3, "amount": D("9500.00")},
        lines=(("massage", 3),),
        per_line=None,
        to_pay="9000.00",
    ),
    Eff(
        "cheapest free",
        {"effect": "cheapest_free", "min_lines": 2},
        lines=("massage", "facial", "aroma"),
        per_line={2: "500.00"},
        to_pay="5000.00",
    ),
    Eff(
        "cheapest free: one unit of a line of two",
        {"effect": "cheapest_free", "min_lines": 2},
        lines=(("massage", 2),),
        per_line={0: "3000.00"},
        to_pay="3000.00",
    ),
    Eff(
        "cheapest free: never the excluded service",
        {"effect": "cheapest_free", "min_lines": 2},
        lines=("special", "massage", "aroma"),
        per_line={2: "500.00"},
        to_pay="8000.00",
    ),
    Eff(
        "percent of the discounted price, after Silver 10 %",
        {"effect": "percent_lines", "percent": D("20")},
        who="silver",
        others=(("tier_discount", "300.00"),),
        per_line={0: "540.00"},
        to_pay="2160.00",
    ),
    Eff(
        "percent of the list price, after Silver 10 %",
        {"effect": "percent_lines", "percent": D("20"), "percent_of": "list"},
        who="silver",
        others=(("tier_discount", "300.00"),),
        per_line={0: "600.00"},
        to_pay="2100.00",
    ),
    Eff(
        "percent of the list price, after the first-visit 5 %",
        {"effect": "percent_bill", "percent": D("20"), "percent_of": "list"},
        who="new",
        others=(("first_visit", "150.00"),),
        per_line={0: "600.00"},
        to_pay="2250.00",
    ),
    Eff(
        "percent of the discounted price, after the first-visit 5 %",
        {"effect": "percent_bill", "percent": D("20")},
        who="new",
        others=(("first_visit", "150.00"),),
        per_line={0: "570.00"},
        to_pay="2280.00",
    ),
    Eff(
        "percent of the list price never more than is left",
        {"effect": "percent_lines", "percent": D("95"), "percent_of": "list"},
        who="silver",
        others=(("tier_discount", "300.00"),),
        per_line={0: "2700.00"},
        to_pay="0.00",
    ),
]


def _expected(case: Eff):
    promo = [] if case.per_line is None else [("promotion", None)]
    return [(k, D(a)) for k, a in case.others], promo


@pytest.mark.parametrize("case", EFFECTS, ids=lambda c: c.id)
def test_effect(case, env, member_as, quote, checkout, lines_of):
    member = member_as(case.who)
    promotion_of(env, **case.promo)
    lines = lines_of(*case.lines)

    q = quote(member, lines=lines)

    promo = [b for b in q.benefits if b.kind == "promotion"]
    others = [(b.kind, b.amount) for b in q.benefits if b.kind != "promotion"]
    assert others == [(k, D(a)) for k, a in case.others]
    if case.per_line is None:
        assert promo == []
    else:
        assert len(promo) == 1
        expected = {i: D(v) for i, v in case.per_line.items()}
        assert promo[0].per_line == expected
        assert promo[0].amount == sum(expected.values())
    assert q.amount_to_pay == D(case.to_pay)
    assert all(ln.net >= 0 for ln in q.lines)
    if case.earn is not None:
        assert q.points_to_earn == case.earn

    # The commit records exactly what was quoted.
    visit = checkout(member, lines=lines).visit
    assert visit.amount_paid == D(case.to_pay)
    stored = sorted(
        (b.kind, b.amount) for b in VisitBenefit.objects.filter(visit=visit)
    )
    assert stored == sorted((b.kind, b.amount) for b in q.benefits)
    assert Redemption.objects.filter(visit=visit).count() == len(promo)


# --- Points effects ------------------------------------------------------------


def test_bonus_points_are_credited_after_commit_as_a_lot_with_the_lifetime(
    regular, quote, checkout
):
    promotion = PromotionFactory(
        name="Bonus", effect="bonus_points", percent=None, points=200,
        points_lifetime_days=30,
    )  # fmt: skip

    q = quote(regular)
    assert promo_benefits(q) == [("Bonus", D("0.00"))]
    assert q.amount_to_pay == D("3000.00")
    assert q.points_to_earn == 150  # the quote's earn is the program's alone

    visit = checkout(regular).visit

    bonus = LedgerEntry.objects.get(member=regular, kind=LedgerEntry.Kind.BONUS)
    assert bonus.amount == 200
    assert bonus.params["promotion"] == promotion.pk
    lot = PointLot.objects.get(entry=bonus)
    assert (lot.amount, lot.remaining) == (200, 200)
    assert lot.expires_on == date(2025, 7, 10)
    redemption = Redemption.objects.get(visit=visit)
    assert (redemption.money, redemption.points) == (D("0.00"), 200)
    assert usage_of(promotion) == (1, D("0.00"), 200)


def test_bonus_points_without_a_lifetime_live_as_earned_points(regular, checkout):
    from rewards.selectors import program_settings

    PromotionFactory(effect="bonus_points", percent=None, points=50)

    checkout(regular)

    lot = PointLot.objects.get(entry__kind=LedgerEntry.Kind.BONUS, member=regular)
    days = program_settings().lot_lifetime_days
    assert lot.expires_on == date(2025, 6, 10) + timedelta(days=days)


def test_points_multiplier_doubles_the_earned_points(regular, quote, checkout):
    promotion = PromotionFactory(
        name="Double", effect="points_multiplier", percent=None,
        multiplier=D("2.00"), points_lifetime_days=60,
    )  # fmt: skip
    assert promo_benefits(quote(regular)) == [("Double", D("0.00"))]

    result = checkout(regular)

    assert result.points_earned == 150
    bonus = LedgerEntry.objects.get(member=regular, kind=LedgerEntry.Kind.BONUS)
    assert bonus.amount == 150  # ×2: the 150 earned once more
    assert PointLot.objects.get(entry=bonus).expires_on == date(2025, 8, 9)
    assert usage_of(promotion) == (1, D("0.00"), 150)


def test_points_multiplier_on_a_discounted_bill(regular, checkout):
    PromotionFactory(name="Ten", group=PromotionGroupFactory(order=1))
    PromotionFactory(
        name="Triple", effect="points_multiplier", percent=None,
        multiplier=D("3.00"), group=PromotionGroupFactory(order=2),
    )  # fmt: skip

    result = checkout(regular)

    assert result.visit.amount_paid == D("2700.00")
    assert result.points_earned == 135
    bonus = LedgerEntry.objects.get(member=regular, kind=LedgerEntry.Kind.BONUS)
    assert bonus.amount == 270


# --- 3. Stacking -----------------------------------------------------------------


def _group_of(mode, order=0, name=None):
    return PromotionGroupFactory(mode=mode, order=order, name=name or f"{mode}-{order}")


@dataclass(frozen=True)
class Stack:
    id: str
    mode: str
    promos: tuple  # (name, priority, fields)
    lines: tuple = ("massage",)
    applied: tuple = ()  # (name, amount) in order


TEN = {"percent": D("10")}
TWENTY = {"percent": D("20")}
FIXED_500 = {"effect": "fixed_bill", "percent": None, "amount": D("500.00")}

STACKING = [
    Stack(
        "stack: both, the second on what the first left",
        Mode.STACK,
        (("A", 1, TEN), ("B", 2, TWENTY)),
        applied=(("A", "300.00"), ("B", "540.00")),
    ),
    Stack(
        "stack: by priority, not by creation",
        Mode.STACK,
        (("A", 2, TEN), ("B", 1, FIXED_500)),
        applied=(("B", "500.00"), ("A", "250.00")),
    ),
    Stack(
        "stack: one of them does not apply",
        Mode.STACK,
        (("A", 1, TEN), ("B", 2, {**TWENTY, "weekdays": "7"})),
        applied=(("A", "300.00"),),
    ),
    Stack(
        "first: the first by priority, though smaller",
        Mode.FIRST,
        (("Big", 2, TWENTY), ("Small", 1, TEN)),
        applied=(("Small", "300.00"),),
    ),
    Stack(
        "first: the first that applies",
        Mode.FIRST,
        (("Big", 2, TWENTY), ("Small", 1, {**TEN, "min_bill": D("5000")})),
        applied=(("Big", "600.00"),),
    ),
    Stack(
        "first: one that gives nothing here is skipped",
        Mode.FIRST,
        (("Big", 2, TWENTY), ("Faces", 1, {**TEN, "services": ["facial"]})),
        applied=(("Big", "600.00"),),
    ),
    Stack(
        "best: the biggest for the member",
        Mode.BEST,
        (("Ten", 1, TEN), ("Twenty", 2, TWENTY), ("Fixed", 3, FIXED_500)),
        applied=(("Twenty", "600.00"),),
    ),
    Stack(
        "best: on a small bill the fixed amount",
        Mode.BEST,
        (("Ten", 1, TEN), ("Twenty", 2, TWENTY), ("Fixed", 3, FIXED_500)),
        lines=("aroma", "manicure"),
        applied=(("Fixed", "500.00"),),
    ),
    Stack(
        "best: 500 bonus points (500.00) beat 300.00 off",
        Mode.BEST,
        (
            ("Ten", 1, TEN),
            ("Bonus", 2, {"effect": "bonus_points", "percent": None, "points": 500}),
        ),
        applied=(("Bonus", "0.00"),),
    ),  # fmt: skip
    Stack(
        "best: 200 bonus points (200.00) lose to 300.00 off",
        Mode.BEST,
        (
            ("Ten", 1, TEN),
            ("Bonus", 2, {"effect": "bonus_points", "percent": None, "points": 200}),
        ),
        applied=(("Ten", "300.00"),),
    ),  # fmt: skip
    Stack(
        "best: a tie goes to the higher priority",
        Mode.BEST,
        (("Later", 2, TEN), ("Sooner", 1, {**FIXED_500, "amount": D("300.00")})),
        applied=(("Sooner", "300.00"),),
    ),
]


@pytest.mark.parametrize("case", STACKING, ids=lambda c: c.id)
def test_group_mode(case, env, regular, quote, lines_of):
    group = _group_of(case.mode)
    for name, priority, fields in case.promos:
        fields = dict(fields)
        if "services" in fields:
            fields["services"] = [env["services"][n] for n in fields["services"]]
        PromotionFactory(name=name, priority=priority, group=group, **fields)

    q = quote(regular, lines=lines_of(*case.lines))

    assert promo_benefits(q) == [(n, D(a)) for n, a in case.applied]


@pytest.mark.parametrize(
    ("orders", "applied"),
    [
        ((1, 2), [("Fixed", D("1000.00")), ("Ten", D("200.00"))]),
        ((2, 1), [("Ten", D("300.00")), ("Fixed", D("1000.00"))]),
    ],
    ids=["fixed group first", "percent group first"],
)
def test_groups_apply_in_their_order(orders, applied, regular, quote):
    fixed_group = _group_of(Mode.BEST, orders[0], "fixed")
    percent_group = _group_of(Mode.BEST, orders[1], "percent")
    PromotionFactory(
        name="Fixed", group=fixed_group, effect="fixed_bill", percent=None,
        amount=D("1000.00"),
    )  # fmt: skip
    PromotionFactory(name="Ten", group=percent_group)

    q = quote(regular)

    assert promo_benefits(q) == applied
    assert q.amount_to_pay == D("3000.00") - sum(a for _n, a in applied)


@pytest.mark.parametrize(
    "fields",
    [
        {"effect": "percent_lines", "percent": D("50")},
        {"effect": "percent_bill", "percent": D("50")},
        {"effect": "fixed_bill", "percent": None, "amount": D("1000.00")},
        {"effect": "cheapest_free", "percent": None},
        {
            "effect": "bundle_price",
            "percent": None,
            "bundle_quantity": 1,
            "amount": D("1.00"),
        },
    ],  # fmt: skip
    ids=lambda f: f["effect"],
)
def test_a_service_excluded_from_discounts_is_never_discounted(
    fields, special, regular, quote, lines_of
):
    PromotionFactory(name="Promo", services=[special], **fields)

    q = quote(regular, lines=lines_of("special"))

    assert promo_benefits(q) == []
    assert q.amount_to_pay == D("5000.00")


@pytest.mark.parametrize(
    ("cap", "who", "expected", "to_pay"),
    [
        (100, "regular", [("A", "600.00"), ("B", "480.00")], "1920.00"),
        (25, "regular", [("A", "600.00"), ("B", "150.00")], "2250.00"),
        (20, "regular", [("A", "600.00")], "2400.00"),
        (15, "regular", [("A", "450.00")], "2550.00"),
        # Silver's 10 % counts towards the cap: 750 − 300 leaves 450.
        (25, "silver", [("A", "450.00")], "2250.00"),
        (5, "silver", [], "2700.00"),
    ],
    ids=["no cap", "25 %", "20 %", "15 %", "25 % with Silver", "5 % with Silver"],
)
def test_max_discount_cap(cap, who, expected, to_pay, settings, member_as, quote):
    settings.CAMPAIGNS_MAX_DISCOUNT_PERCENT = cap
    group = _group_of(Mode.STACK)
    PromotionFactory(name="A", group=group, priority=1, percent=D("20"))
    PromotionFactory(name="B", group=group, priority=2, percent=D("20"))

    q = quote(member_as(who))

    assert promo_benefits(q) == [(n, D(a)) for n, a in expected]
    assert q.amount_to_pay == D(to_pay)


def test_never_a_negative_line_or_bill(regular, quote, checkout, lines_of):
    group = _group_of(Mode.STACK)
    for n in range(3):
        PromotionFactory(
            name=f"Fixed {n}", group=group, priority=n, effect="fixed_bill",
            percent=None, amount=D("1500.00"),
        )  # fmt: skip
    PromotionFactory(
        name="List 90", group=group, priority=9, percent=D("90"), percent_of="list"
    )
    lines = lines_of("massage", "aroma")

    q = quote(regular, lines=lines)

    assert promo_benefits(q) == [
        ("Fixed 0", D("1500.00")),
        ("Fixed 1", D("1500.00")),
        ("Fixed 2", D("500.00")),
    ]
    assert [ln.net for ln in q.lines] == [D("0.00"), D("0.00")]
    assert q.amount_to_pay == D("0.00")
    assert q.points_to_earn == 0
    visit = checkout(regular, lines=lines).visit
    assert visit.amount_paid == D("0.00")


def test_a_promotion_and_a_voucher(regular, quote, checkout):
    PromotionFactory(name="Ten")
    voucher = voucher_issue(
        member=regular,
        reward=RewardFactory(fixed=True, discount_amount=D("1000.00")),
        key="gift",
        source=Voucher.Source.MANUAL,
    )

    q = quote(regular, voucher_codes=[voucher.code])

    # The promotion first, the voucher on what it left.
    assert all_benefits(q) == [("promotion", D("300.00")), ("voucher", D("1000.00"))]
    assert q.amount_to_pay == D("1700.00")
    visit = checkout(regular, voucher_codes=[voucher.code]).visit
    assert visit.amount_paid == D("1700.00")
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED


def test_a_voucher_left_nothing_to_take_is_refused(regular, quote):
    PromotionFactory(name="All", percent=D("100"))
    voucher = voucher_issue(
        member=regular,
        reward=RewardFactory(discount_percent=D("20")),
        key="gift",
        source=Voucher.Source.MANUAL,
    )

    with pytest.raises(ValidationError) as exc:
        quote(regular, voucher_codes=[voucher.code])

    assert error_codes(exc.value) == {"voucher_not_applicable"}


def test_tier_discount_and_promotion_on_a_gold_member(member_as, quote):
    PromotionFactory(name="Ten")

    q = quote(member_as("gold"), lines=None)

    assert all_benefits(q) == [
        ("tier_discount", D("450.00")),
        ("promotion", D("255.00")),
    ]
    assert q.amount_to_pay == D("2295.00")


def test_a_committed_promotion_is_recorded_once_per_visit(regular, checkout):
    promotion = PromotionFactory(name="Ten")

    visit = checkout(regular).visit

    assert visit.status == Visit.Status.PAID
    redemption = Redemption.objects.get()
    assert (redemption.promotion, redemption.visit, redemption.member) == (
        promotion,
        visit,
        regular,
    )
    assert redemption.money == D("300.00")
    assert redemption.created_at == NOW
    assert usage_of(promotion) == (1, D("300.00"), 0)


# --- A code the member gave wins its group; a multiplier is worth its points --


def test_a_typed_code_wins_its_best_group_over_a_bigger_automatic_discount(
    regular, location, service
):
    from campaigns.models import PromoCode, Promotion, PromotionGroup
    from members.services import VisitLineInput
    from rewards.services import checkout_quote

    group = PromotionGroup.objects.create(name="One", mode="best")
    Promotion.objects.create(
        name="Twenty",
        group=group,
        status="active",
        effect="percent_bill",
        percent=Decimal("20"),
    )
    ten = Promotion.objects.create(name="Ten", group=group, status="active",
                                   effect="percent_bill", percent=Decimal("10"),
                                   code_required=True)  # fmt: skip
    PromoCode.objects.create(promotion=ten, code="TEN")
    lines = [VisitLineInput(service=service)]

    plain = checkout_quote(member=regular, location=location, lines=lines)
    typed = checkout_quote(member=regular, location=location, lines=lines,
                           promo_codes=["ten"])  # fmt: skip

    assert [b.params["name"] for b in plain.benefits if b.kind == "promotion"] == [
        "Twenty"
    ]
    assert [b.params["name"] for b in typed.benefits if b.kind == "promotion"] == [
        "Ten"
    ]


def test_a_points_multiplier_is_weighed_by_the_points_it_brings(
    regular, location, service
):
    from campaigns.models import Promotion, PromotionGroup
    from members.services import VisitLineInput
    from rewards.services import checkout_quote

    group = PromotionGroup.objects.create(name="One", mode="best")
    Promotion.objects.create(
        name="One percent",
        group=group,
        status="active",
        effect="percent_bill",
        percent=Decimal("1"),
    )
    Promotion.objects.create(name="Triple", group=group, status="active",
                             effect="points_multiplier", multiplier=Decimal("3"))  # fmt: skip

    quote = checkout_quote(member=regular, location=location,
                           lines=[VisitLineInput(service=service)])  # fmt: skip

    assert [b.params["name"] for b in quote.benefits if b.kind == "promotion"] == [
        "Triple"
    ]
