"""Checkout pricing: checkout_quote (changes nothing) and checkout_commit (records
exactly what was quoted, idempotent by external id).

The pricing cases are a table: who the member is, the lines, the vouchers and
points presented, and what comes out (each benefit, the amount to pay, the
points to earn). The same table drives the commit: every case is recorded and
the visit must carry exactly the quoted breakdown.

Catalogue: massage 3000.00 and aroma 500.00 (category "massage"), and a
holiday special 5000.00 excluded from discounts. Shipped program: 5 points per
100 paid, 30% of a bill payable by points, 1 point = 1.00.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members.models import Visit
from members.services import VisitLineInput
from rewards.benefits import Benefit, percent_benefit
from rewards.models import LedgerEntry, Tier, TierChange, VisitBenefit, Voucher
from rewards.services import (
    checkout_commit,
    checkout_quote,
    reward_redeem,
    voucher_cancel,
    voucher_issue,
)
from rewards.services import pricing as checkout_module
from rewards.services.price_changes import PriceAuthority
from tests.conftest import error_codes, moscow, promotions_cached
from tests.factories import MemberFactory, RewardFactory, ServiceFactory
from tests.rewards.conftest import (
    assert_books_balance,
    balances,
    give_points,
    program_set,
    row_counts,
    state_of,
    tier,
    tier_set,
)

pytestmark = pytest.mark.django_db

NOW = moscow(2025, 6, 10, 15, 0)
Kind = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


# --- The catalogue, the members, the vouchers -------------------------------


@pytest.fixture
def special(category):
    return ServiceFactory(
        category=category,
        name="New Year special",
        code="ny-special",
        base_price=Decimal("5000.00"),
        excluded_from_discounts=True,
    )


@pytest.fixture
def catalogue(service, addon, special):
    return {"massage": service, "aroma": addon, "special": special}


def lines_of(catalogue, spec) -> list[VisitLineInput]:
    return [VisitLineInput(service=catalogue[name], quantity=q) for name, q in spec]


@pytest.fixture
def member_as(record_visit):
    """A member as the case describes them.

    ``new``: no visit yet. ``regular``: one earlier visit (paid nothing, so no
    points). ``silver`` / ``gold``: regular on that tier. ``silver_new``: on
    Silver before their first visit.
    """

    def make(who: str):
        member = MemberFactory()
        if who != "new" and who != "silver_new":
            record_visit(member, paid_at=moscow(2025, 5, 1, 12, 0), amount_paid="0")
        if who in ("silver", "gold", "silver_new"):
            tier_set(member, who.removesuffix("_new"))
        return member

    return make


@pytest.fixture
def voucher_for(catalogue):
    """Vouchers given through ``voucher_issue``, by the name of their reward."""
    rewards = {}

    def reward(name):
        if name not in rewards:
            rewards[name] = {
                "free_massage": lambda: RewardFactory(
                    free_service=True, service=catalogue["massage"]
                ),
                "free_aroma": lambda: RewardFactory(
                    free_service=True, service=catalogue["aroma"]
                ),
                "pct20": lambda: RewardFactory(discount_percent=Decimal("20")),
                "fixed1000": lambda: RewardFactory(
                    fixed=True, discount_amount=Decimal("1000.00")
                ),
                "fixed5000": lambda: RewardFactory(
                    fixed=True, discount_amount=Decimal("5000.00")
                ),
                "partner": lambda: RewardFactory(partner=True),
            }[name]()
        return rewards[name]

    def issue(member, name, n=0):
        return voucher_issue(
            member=member,
            reward=reward(name),
            key=f"test:{member.pk}:{name}:{n}",
            source=Voucher.Source.MANUAL,
        )

    return issue


# --- The table --------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    who: str = "regular"
    lines: tuple = (("massage", 1),)
    vouchers: tuple = ()
    balance: int = 0
    points: int = 0
    settings: tuple = ()  # ProgramSettings fields to change
    welcome_percent: str | None = None  # the Base tier's first-visit discount
    benefits: tuple = ()  # (kind, amount) in the order applied
    to_pay: str = ""
    earn: int = 0


CASES = [
    Case(
        "first visit: 5% welcome",
        who="new",
        benefits=(("first_visit", "150.00"),),
        to_pay="2850.00",
        earn=142,  # 2850 × 5%
    ),
    Case("second visit: no discount", to_pay="3000.00", earn=150),
    Case(
        "welcome never on an excluded service",
        who="new",
        lines=(("massage", 1), ("special", 1)),
        benefits=(("first_visit", "150.00"),),
        to_pay="7850.00",
        earn=142,  # the special earns nothing
    ),
    Case(
        "Silver 10% on every line",
        who="silver",
        lines=(("massage", 1), ("aroma", 1)),
        benefits=(("tier_discount", "350.00"),),
        to_pay="3150.00",
        earn=196,  # 3150 × 5% × 1.25 = 196.875
    ),
    Case(
        "Gold 15% never on an excluded service",
        who="gold",
        lines=(("massage", 1), ("special", 1)),
        benefits=(("tier_discount", "450.00"),),
        to_pay="7550.00",
        earn=191,  # 2550 × 5% × 1.5 = 191.25
    ),
    Case(
        "best of: Silver 10% beats the 5% welcome, not both",
        who="silver_new",
        benefits=(("tier_discount", "300.00"),),
        to_pay="2700.00",
        earn=168,
    ),
    Case(
        "best of: a 12% welcome beats Silver 10%",
        who="silver_new",
        welcome_percent="12",
        benefits=(("first_visit", "360.00"),),
        to_pay="2640.00",
        earn=165,
    ),
    Case(
        "free massage",
        lines=(("massage", 1), ("aroma", 1)),
        vouchers=("free_massage",),
        benefits=(("voucher", "3000.00"),),
        to_pay="500.00",
        earn=25,
    ),
    Case(
        "free massage takes one unit, at the Silver price",
        who="silver",
        lines=(("massage", 2),),
        vouchers=("free_massage",),
        benefits=(("tier_discount", "600.00"), ("voucher", "2700.00")),
        to_pay="2700.00",
        earn=168,
    ),
    Case(
        "two free massages for two units",
        who="silver",
        lines=(("massage", 2),),
        vouchers=("free_massage", "free_massage"),
        benefits=(
            ("tier_discount", "600.00"),
            ("voucher", "2700.00"),
            ("voucher", "2700.00"),
        ),
        to_pay="0.00",
        earn=0,
    ),
    Case(
        "20% voucher never on an excluded service",
        lines=(("massage", 1), ("special", 1)),
        vouchers=("pct20",),
        benefits=(("voucher", "600.00"),),
        to_pay="7400.00",
        earn=120,
    ),
    Case(
        "20% voucher on top of the tier discount",
        who="silver",
        vouchers=("pct20",),
        benefits=(("tier_discount", "300.00"), ("voucher", "540.00")),
        to_pay="2160.00",
        earn=135,
    ),
    Case(
        "1000 off spread over the lines",
        lines=(("massage", 1), ("aroma", 1)),
        vouchers=("fixed1000",),
        benefits=(("voucher", "1000.00"),),
        to_pay="2500.00",
        earn=125,
    ),
    Case(
        "5000 off is never more than the eligible lines",
        lines=(("aroma", 1), ("special", 1)),
        vouchers=("fixed5000",),
        benefits=(("voucher", "500.00"),),
        to_pay="5000.00",
        earn=0,
    ),
    Case(
        "1000 off after a free massage spreads over what is left",
        lines=(("massage", 1), ("aroma", 1)),
        vouchers=("free_massage", "fixed1000"),
        benefits=(("voucher", "3000.00"), ("voucher", "500.00")),
        to_pay="0.00",
        earn=0,
    ),
    Case(
        "points up to 30% of the bill",
        balance=1000,
        points=900,
        benefits=(("points", "900.00"),),
        to_pay="2100.00",
        earn=105,  # earned on the money paid only
    ),
    Case(
        "points after the tier discount",
        who="silver",
        balance=1000,
        points=810,
        benefits=(("tier_discount", "300.00"), ("points", "810.00")),
        to_pay="1890.00",
        earn=118,
    ),
    Case(
        "a point worth 0.50",
        balance=5000,
        points=1800,
        settings=(("point_value", Decimal("0.50")),),
        benefits=(("points", "900.00"),),
        to_pay="2100.00",
        earn=105,
    ),
    Case(
        "cashback: a point is worth 1.00 whatever the point value",
        balance=1000,
        points=900,
        settings=(
            ("earn_mode", "cashback"),
            ("earn_rate", Decimal("10")),
            ("point_value", Decimal("0.50")),
        ),
        benefits=(("points", "900.00"),),
        to_pay="2100.00",
        earn=210,
    ),
    Case(
        "everything at once",
        who="silver",
        lines=(("massage", 2), ("aroma", 1), ("special", 1)),
        vouchers=("free_massage", "fixed1000"),
        balance=3000,
        points=2145,  # 30% of the 7150.00 left
        benefits=(
            ("tier_discount", "650.00"),
            ("voucher", "2700.00"),
            ("voucher", "1000.00"),
            ("points", "2145.00"),
        ),
        to_pay="5005.00",
        earn=94,  # (1290.00 + 215.00) × 5% × 1.25; the special earns nothing
    ),
]


@pytest.fixture
def arrange(member_as, voucher_for, catalogue):
    """Set the program and the member up as ``case`` says; return the inputs."""

    def run(case: Case):
        if case.settings:
            program_set(**dict(case.settings))
        if case.welcome_percent is not None:
            Tier.objects.filter(rank=0).update(
                first_visit_discount_percent=Decimal(case.welcome_percent)
            )
        member = member_as(case.who)
        if case.balance:
            give_points(member, case.balance)
        codes = [
            voucher_for(member, name, n).code for n, name in enumerate(case.vouchers)
        ]
        return member, {
            "lines": lines_of(catalogue, case.lines),
            "voucher_codes": codes,
            "points_to_use": case.points,
        }

    return run


def summary(benefits) -> list[tuple[str, str]]:
    return [(str(b.kind), str(b.amount)) for b in benefits]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_quote(case, arrange, location):
    member, inputs = arrange(case)

    q = checkout_quote(member=member, location=location, **inputs)

    assert summary(q.benefits) == list(case.benefits)
    assert str(q.amount_to_pay) == case.to_pay
    assert q.points_to_earn == case.earn
    # The breakdown adds up, line by line and in total
    assert q.amount_to_pay == q.total - q.discount_total - q.points_money
    assert sum(b.amount for b in q.benefits) == q.discount_total + q.points_money
    assert all(Decimal("0") <= ln.to_pay <= ln.gross for ln in q.lines)
    assert q.points_used == case.points
    assert all(b.explanation for b in q.benefits)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_commit_records_exactly_the_quote(case, arrange, location):
    member, inputs = arrange(case)
    q = checkout_quote(member=member, location=location, **inputs)

    result = checkout_commit(member=member, location=location, **inputs)

    # The visit: the money paid is what the quote said
    visit = result.visit
    visit.refresh_from_db()
    assert result.created is True
    assert (visit.total, visit.amount_paid) == (q.total, q.amount_to_pay)
    # Its benefits are the quote's, one row each
    rows = list(VisitBenefit.objects.filter(visit=visit))
    assert [
        (r.kind, r.source, r.amount, r.points, r.voucher_id, r.reason, r.params)
        for r in rows
    ] == [
        (
            b.kind,
            str(b.source),
            b.amount,
            b.points,
            b.voucher.pk if b.voucher else None,
            b.reason,
            b.params,
        )
        for b in q.benefits
    ]
    # The points: spent as quoted, earned as quoted
    entries = LedgerEntry.objects.filter(visit=visit)
    assert sum(e.amount for e in entries if e.kind == Kind.SPEND) == -case.points
    assert sum(e.amount for e in entries if e.kind == Kind.EARN) == case.earn
    assert result.points_earned == case.earn
    assert balances(member)[0] == case.balance - case.points + case.earn
    # The vouchers: used on this visit
    for code in inputs["voucher_codes"]:
        voucher = Voucher.objects.get(code=code)
        assert (voucher.status, voucher.visit, voucher.used_at) == (
            Voucher.Status.USED,
            visit,
            NOW,
        )
    assert_books_balance(member)


# --- Exclusive groups are decided per line ----------------------------------


class AromaWeekSource:
    """A campaign as a further source: 50% off aromatherapy, same exclusive group."""

    kind = "campaign"
    label = "Campaign"
    group = "percent"
    inputs = ()

    def propose(self, ctx):
        benefit = percent_benefit(
            ctx,
            Decimal("50"),
            kind="campaign",
            source="Aroma week",
            reason="campaign",
            params={},
        )
        benefit.per_line = {
            i: v
            for i, v in benefit.per_line.items()
            if ctx.lines[i].service.code == "aroma"
        }
        benefit.amount = sum(benefit.per_line.values())
        yield benefit

    def explain(self, reason, params):
        return "Aroma week: half price" if reason == "campaign" else None


def test_in_an_exclusive_group_the_best_offer_wins_on_each_line(
    member_as, catalogue, location, settings
):
    # Given a Silver member and an "aroma week" plugged in beside the tier discount
    settings.REGULARS_BENEFIT_SOURCES = [
        *settings.REGULARS_BENEFIT_SOURCES,
        f"{__name__}.AromaWeekSource",
    ]
    member = member_as("silver")

    q = checkout_quote(
        member=member,
        location=location,
        lines=lines_of(catalogue, [("massage", 1), ("aroma", 1)]),
    )

    # Then the massage gets the tier's 10%, the aroma the campaign's 50%, never both
    by_source = {b.source: b for b in q.benefits}
    assert {s: b.per_line for s, b in by_source.items()} == {
        "Silver": {0: Decimal("300.00")},
        "Aroma week": {1: Decimal("250.00")},
    }
    assert [ln.discount for ln in q.lines] == [Decimal("300.00"), Decimal("250.00")]
    assert isinstance(by_source["Aroma week"], Benefit)
    # And the source explains its own benefit
    assert by_source["Aroma week"].explanation == "Aroma week: half price"


# --- Refusals ---------------------------------------------------------------


@pytest.fixture
def refused(location):
    """Both the quote and the commit refuse with ``code``, and write nothing."""

    def check(code, member, **inputs):
        for call in (checkout_quote, checkout_commit):
            before = state_of(member)
            with pytest.raises(ValidationError) as caught:
                call(member=member, location=location, **inputs)
            assert error_codes(caught.value) == {code}, call.__name__
            assert state_of(member) == before, call.__name__

    return check


def test_another_members_voucher_is_not_found(
    member_as, voucher_for, refused, catalogue
):
    anna, boris = member_as("regular"), member_as("regular")
    borises = voucher_for(boris, "pct20")

    for code in (borises.code, "NOSUCHCODE"):
        refused(
            "voucher_not_found",
            anna,
            lines=lines_of(catalogue, [("massage", 1)]),
            voucher_codes=[code],
        )


def test_a_used_or_cancelled_voucher_is_not_active(
    member_as, voucher_for, refused, catalogue, checkout
):
    member = member_as("regular")
    used = voucher_for(member, "pct20", 1)
    checkout(member, voucher_codes=[used.code])
    cancelled = voucher_for(member, "pct20", 2)
    voucher_cancel(voucher=cancelled)

    for voucher in (used, cancelled):
        refused(
            "voucher_not_active",
            member,
            lines=lines_of(catalogue, [("massage", 1)]),
            voucher_codes=[voucher.code],
        )


def test_a_voucher_past_its_date_has_expired(
    member_as, voucher_for, refused, catalogue
):
    member = member_as("regular")
    voucher = voucher_for(member, "pct20")

    with time_machine.travel(voucher.valid_until, tick=False):
        refused(
            "voucher_expired",
            member,
            lines=lines_of(catalogue, [("massage", 1)]),
            voucher_codes=[voucher.code],
        )


@pytest.mark.parametrize(
    "reward, lines, code",
    [
        ("pct20", [("massage", 1)], "voucher_duplicate"),
        ("free_aroma", [("massage", 1)], "voucher_service_missing"),
        ("partner", [("massage", 1)], "voucher_not_for_checkout"),
        ("pct20", [("special", 1)], "voucher_not_applicable"),
        ("fixed1000", [("special", 1)], "voucher_not_applicable"),
    ],
    ids=[
        "duplicate",
        "service-missing",
        "partner",
        "pct-on-excluded",
        "fixed-on-excluded",
    ],
)
def test_a_voucher_that_does_not_fit_the_visit_is_refused(
    member_as, voucher_for, refused, catalogue, reward, lines, code
):
    member = member_as("regular")
    voucher = voucher_for(member, reward)
    codes = [voucher.code]
    if code == "voucher_duplicate":
        codes.append(f" {voucher.code.lower()} ")

    refused(code, member, lines=lines_of(catalogue, lines), voucher_codes=codes)


@pytest.mark.parametrize(
    "balance, points, code",
    [
        (1000, 901, "points_over_limit"),  # 30% of 3000 is 900
        (500, 600, "points_insufficient"),
        (0, 1, "points_insufficient"),
        (1000, -5, "invalid_points"),
    ],
    ids=["over-the-share", "over-the-balance", "no-points", "negative"],
)
def test_points_beyond_the_share_or_the_balance_are_refused(
    member_as, refused, catalogue, balance, points, code
):
    member = member_as("regular")
    if balance:
        give_points(member, balance)

    refused(
        code, member, lines=lines_of(catalogue, [("massage", 1)]), points_to_use=points
    )


def test_pending_points_cannot_pay(member_as, refused, catalogue, record_visit):
    program_set(pending_days=14)
    member = member_as("regular")
    record_visit(member)  # 150 points, pending
    assert balances(member) == (0, 150, 0)

    refused(
        "points_insufficient",
        member,
        lines=lines_of(catalogue, [("massage", 1)]),
        points_to_use=10,
    )


def test_the_quote_tells_the_most_points_that_can_pay(member_as, quote):
    member = member_as("regular")
    give_points(member, 500)

    assert (quote(member).points_max, quote(member).points_available) == (500, 500)
    give_points(member, 1000)
    assert quote(member).points_max == 900


# --- The quote writes nothing -----------------------------------------------


def test_a_quote_writes_nothing_even_for_a_member_without_a_wallet(
    member_as, voucher_for, catalogue, location
):
    member = member_as("new")
    before = row_counts()

    q = checkout_quote(
        member=member,
        location=location,
        lines=lines_of(catalogue, [("massage", 1), ("aroma", 1)]),
    )

    assert q.tier.code == "base"
    assert row_counts() == before


def test_a_full_quote_writes_nothing(member_as, voucher_for, catalogue, location):
    member = member_as("silver")
    give_points(member, 1000)
    codes = [voucher_for(member, "free_massage").code]
    before = state_of(member)

    checkout_quote(
        member=member,
        location=location,
        lines=lines_of(catalogue, [("massage", 1), ("aroma", 1)]),
        voucher_codes=codes,
        points_to_use=100,
    )

    assert state_of(member) == before


# --- The commit: tiers and idempotency --------------------------------------


def test_the_visit_that_qualifies_upgrades_the_tier_at_once(
    member, record_visit, checkout, admin_user
):
    # Given four visits this year
    for day in range(1, 5):
        record_visit(member, paid_at=moscow(2025, 5, day, 12, 0))

    # When the fifth is checked out
    result = checkout(member, recorded_by=admin_user)

    # Then the member is Silver from this visit on
    silver = tier("silver")
    assert result.tier_upgraded_to == silver
    change = TierChange.objects.get(member=member, reason=TierChange.Reason.UPGRADE)
    assert (change.from_tier.code, change.to_tier, change.visit) == (
        "base",
        silver,
        result.visit,
    )
    assert (change.actor, change.changed_at) == (admin_user, NOW)
    # And the points of this visit were counted at the tier it was quoted at
    assert result.points_earned == 150


@pytest.fixture
def booked(member, checkout):
    """A POS booking checked out with 300 points paid."""
    give_points(member, 1000)
    return checkout(
        member,
        points_to_use=300,
        external_id="booking-42",
        source=Visit.Source.POS,
        paid_at=moscow(2025, 6, 10, 14, 0),
    )


def test_the_same_booking_checked_out_twice_is_recorded_once(member, booked, checkout):
    before = state_of(member)

    again = checkout(
        member,
        points_to_use=300,
        external_id=" booking-42 ",
        source=Visit.Source.POS,
        paid_at=moscow(2025, 6, 10, 14, 0),
    )

    assert (booked.created, again.created) == (True, False)
    assert again.visit.pk == booked.visit.pk
    assert again.points_earned == booked.points_earned == 127  # 2550 paid
    assert state_of(member) == before
    assert balances(member) == (1000 - 300 + 127, 0, 0)


def test_the_same_booking_for_another_member_is_a_conflict(booked, catalogue):
    other = MemberFactory()
    before = state_of(other)

    with pytest.raises(ValidationError) as caught:
        checkout_commit(
            member=other,
            location=booked.visit.location,
            lines=lines_of(catalogue, [("massage", 1)]),
            external_id="booking-42",
            source=Visit.Source.POS,
        )

    assert error_codes(caught.value) == {"external_id_conflict"}
    assert state_of(other) == before


def test_a_voucher_used_meanwhile_rolls_the_whole_checkout_back(
    member_as, voucher_for, catalogue, location, monkeypatch
):
    # Given a voucher the quote sees as active…
    member = member_as("regular")
    give_points(member, 1000)
    voucher = voucher_for(member, "pct20")
    real_vouchers_for = checkout_module._vouchers_for

    def and_then_used_elsewhere(*args, **kwargs):
        found = real_vouchers_for(*args, **kwargs)
        Voucher.objects.filter(pk=voucher.pk).update(status=Voucher.Status.USED)
        return found

    monkeypatch.setattr(checkout_module, "_vouchers_for", and_then_used_elsewhere)
    visits = Visit.objects.count()

    # When another till uses it between the quote and the commit's update
    with pytest.raises(ValidationError) as caught:
        checkout_commit(
            member=member,
            location=location,
            lines=lines_of(catalogue, [("massage", 1)]),
            voucher_codes=[voucher.code],
            points_to_use=100,
        )

    # Then nothing of this checkout stays: no visit, no points spent
    assert error_codes(caught.value) == {"voucher_not_active"}
    assert Visit.objects.count() == visits
    assert balances(member) == (1000, 0, 0)


def test_a_redeemed_voucher_works_at_checkout(member, checkout, catalogue):
    give_points(member, 500)
    reward = RewardFactory(
        free_service=True, service=catalogue["aroma"], points_cost=400
    )
    voucher = reward_redeem(member=member, reward=reward, idempotency_key="r")

    result = checkout(
        member,
        lines=lines_of(catalogue, [("massage", 1), ("aroma", 1)]),
        voucher_codes=[voucher.code.lower()],
    )

    assert result.visit.amount_paid == Decimal("2850.00")  # welcome 5% on massage
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED


def test_quote_lines_keep_the_prices_given(member, quote, catalogue):
    q = quote(
        member,
        lines=[
            VisitLineInput(
                service=catalogue["massage"],
                price="2000",
                quantity=2,
                price_reason="Staff price",
            )
        ],
        price_authority=PriceAuthority.ANY,
    )

    assert (q.total, q.lines[0].unit_price) == (Decimal("4000.00"), Decimal("2000.00"))


def test_a_retry_a_day_later_is_still_the_same_booking(member, booked, checkout):
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        again = checkout(
            member,
            points_to_use=300,
            external_id="booking-42",
            source=Visit.Source.POS,
        )

    assert again.created is False


def test_a_retry_with_other_points_is_another_booking(member, booked, checkout):
    # The one "same booking?" check covers the inputs too (vouchers, points…)
    with pytest.raises(ValidationError) as caught:
        checkout(member, external_id="booking-42", source=Visit.Source.POS)

    assert error_codes(caught.value) == {"external_id_conflict"}


# --- The hot path runs a fixed number of queries ----------------------------

# (SAVEPOINT: the test's transaction) · stamps · member FOR UPDATE · visit by
# external id · wallet FOR UPDATE · vouchers by code · spendable points (lots) ·
# INSERT visit · INSERT lines · UPDATE member stats · INSERT benefits · UPDATE
# vouchers · open lots · INSERT spend · UPDATE lots · INSERT allocations ·
# INSERT earn · INSERT lot · UPDATE wallet · (RELEASE). Settings, tiers, rates
# and services come from the process caches; a regular cannot rise a tier with
# one visit, so the window is not counted.
COMMIT_QUERIES = 20
# stamps · member with its wallet (no lock) · vouchers · spendable points (lots)
QUOTE_QUERIES = 4


@pytest.fixture
def regular_with(member_as, voucher_for):
    """A regular member holding 1000 points in ``lots`` lots and ``n`` vouchers."""

    def make(lots: int, vouchers: int):
        member = member_as("regular")
        for i in range(lots):
            give_points(member, 1000 // lots, lifetime_days=30 + i)
        codes = [voucher_for(member, "pct20", n).code for n in range(vouchers)]
        return member, codes

    return make


SHAPES = [(1, 1), (50, 1), (1, 3), (50, 3)]
SHAPE_IDS = [f"{lots}-lots-{n}-vouchers" for lots, n in SHAPES]


@pytest.mark.parametrize("lots, vouchers", SHAPES, ids=SHAPE_IDS)
def test_commit_runs_a_fixed_number_of_queries(
    regular_with, catalogue, location, django_assert_num_queries, lots, vouchers
):
    member, codes = regular_with(lots, vouchers)

    promotions_cached()
    with django_assert_num_queries(COMMIT_QUERIES):
        result = checkout_commit(
            member=member,
            location=location,
            lines=lines_of(catalogue, [("massage", 1), ("aroma", 1)]),
            voucher_codes=codes,
            points_to_use=500,  # drawn from 25 of the 50 lots
            external_id=f"booking-{lots}-{vouchers}",
            source=Visit.Source.POS,
        )

    assert result.created is True
    assert balances(member)[0] == 500 + result.points_earned
    assert Voucher.objects.filter(visit=result.visit).count() == vouchers


@pytest.mark.parametrize("lots, vouchers", SHAPES, ids=SHAPE_IDS)
def test_quote_runs_a_fixed_number_of_queries(
    regular_with, catalogue, location, django_assert_num_queries, lots, vouchers
):
    member, codes = regular_with(lots, vouchers)

    promotions_cached()
    with django_assert_num_queries(QUOTE_QUERIES):
        checkout_quote(
            member=member,
            location=location,
            lines=lines_of(catalogue, [("massage", 1), ("aroma", 1)]),
            voucher_codes=codes,
            points_to_use=500,
        )


def test_a_retried_booking_costs_a_fixed_few_queries(
    regular_with, catalogue, location, django_assert_num_queries
):
    member, _codes = regular_with(1, 0)
    kwargs = {
        "member": member,
        "location": location,
        "lines": lines_of(catalogue, [("massage", 1)]),
        "external_id": "booking-1",
        "source": Visit.Source.POS,
    }
    checkout_commit(**kwargs)

    # SAVEPOINT · stamps · member FOR UPDATE · the booking id · the visit (its
    # content is its fingerprint) · its earn · RELEASE
    with django_assert_num_queries(7):
        assert checkout_commit(**kwargs).created is False


def test_the_same_booking_id_with_other_lines_is_a_conflict_for_the_same_member(
    regular_with, catalogue, location
):
    member, _codes = regular_with(1, 0)
    kwargs = {
        "member": member,
        "location": location,
        "lines": lines_of(catalogue, [("massage", 1)]),
        "external_id": "booking-7",
        "source": Visit.Source.POS,
    }
    checkout_commit(**kwargs)
    before = state_of(member)

    with pytest.raises(ValidationError) as caught:
        checkout_commit(**{**kwargs, "lines": lines_of(catalogue, [("massage", 2)])})

    assert error_codes(caught.value) == {"external_id_conflict"}
    assert state_of(member) == before


def test_points_past_their_date_are_not_offered_before_the_nightly_expiry(
    member_as, catalogue, location
):
    # Given 300 points that expired yesterday (the nightly job has not run yet)
    # and 200 that are good…
    member = member_as("regular")
    give_points(member, 300, lifetime_days=1)
    give_points(member, 200)

    with time_machine.travel(NOW + timedelta(days=1, minutes=1), tick=False):
        quote = checkout_quote(
            member=member,
            location=location,
            lines=lines_of(catalogue, [("massage", 1)]),
        )
        # …only the good ones can pay, and asking for more is a clear refusal.
        assert quote.points_available == 200
        assert quote.points_max <= 200
        with pytest.raises(ValidationError) as caught:
            checkout_commit(
                member=member,
                location=location,
                lines=lines_of(catalogue, [("massage", 1)]),
                points_to_use=250,
            )
    assert error_codes(caught.value) == {"points_insufficient"}
