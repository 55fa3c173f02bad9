"""Races the promotions' limits must win: real threads, real row locks, PostgreSQL.

Each thread has its own connection and its own member (members are not
serialised by the member lock), waits at a barrier, then checks out: the
promotion's usage row, locked by ``campaigns.flow``, is the only thing between
them. Whatever the timing, a promotion never gives more than its limit: the
losers are refused ``promotion_used_up`` (or, having priced after the winner
committed, pay without it), a single-use code goes to one visit.
"""

from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from campaigns.models import PromoCode, PromotionUsage, Redemption
from members.models import Visit
from members.services import VisitLineInput
from rewards.services import checkout_commit
from tests.conftest import error_codes
from tests.factories import MemberFactory, PromoCodeFactory, PromotionFactory
from tests.members.test_concurrency import errors_of, race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite has no row locks to race on",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
D = Decimal


@pytest.fixture(autouse=True)
def shipped_program(program_defaults):
    """Transactional tests empty the tables: put the tiers and settings back."""


def codes_of(outcomes) -> Counter:
    errors = errors_of(outcomes)
    assert all(isinstance(e, ValidationError) for e in errors), errors
    return Counter(code for e in errors for code in error_codes(e))


def checkout_race(members, location, service, **inputs):
    return race(
        len(members),
        lambda i: checkout_commit(
            member=members[i],
            location=location,
            lines=[VisitLineInput(service=service)],
            **inputs,
        ),
    )


def paid(outcomes) -> list[Visit]:
    return [value.visit for kind, value in outcomes if kind == "ok"]


def test_the_last_redemption_goes_to_one_checkout(location, service):
    promotion = PromotionFactory(name="Only one", max_redemptions=1)
    members = [MemberFactory() for _ in range(THREADS)]

    outcomes = checkout_race(members, location, service)

    visits = paid(outcomes)
    refused = codes_of(outcomes)
    assert set(refused) <= {"promotion_used_up"}
    assert len(visits) + refused["promotion_used_up"] == THREADS
    winners = [v for v in visits if v.amount_paid == D("2565.00")]  # 5 % then 10 %
    assert len(winners) == 1
    assert all(
        v.amount_paid == D("2850.00") for v in visits if v not in winners
    )  # priced after the winner: the welcome 5 % alone
    assert Redemption.objects.filter(promotion=promotion).count() == 1
    assert Redemption.objects.get().visit == winners[0]
    usage = PromotionUsage.objects.get(promotion=promotion)
    assert (usage.redemptions, usage.money) == (1, D("285.00"))
    assert Visit.objects.count() == len(visits)


def test_a_money_budget_is_never_overspent(location, service):
    # Three redemptions' worth: 10 % of 2850 (after the welcome 5 %) each.
    promotion = PromotionFactory(name="Budget", budget_money=D("855.00"))
    members = [MemberFactory() for _ in range(THREADS)]

    outcomes = checkout_race(members, location, service)

    visits = paid(outcomes)
    refused = codes_of(outcomes)
    assert set(refused) <= {"promotion_used_up"}
    assert len(visits) + refused["promotion_used_up"] == THREADS
    redemptions = list(Redemption.objects.filter(promotion=promotion))
    assert len(redemptions) == 3
    assert {r.money for r in redemptions} == {D("285.00")}
    usage = PromotionUsage.objects.get(promotion=promotion)
    assert (usage.redemptions, usage.money) == (3, D("855.00"))
    assert sorted(v.amount_paid for v in visits) == sorted(
        [D("2565.00")] * 3 + [D("2850.00")] * (len(visits) - 3)
    )


def test_a_single_use_code_typed_at_two_tills_at_once(location, service):
    promotion = PromotionFactory(name="Flyer", code_required=True, percent=D("50"))
    code = PromoCodeFactory(promotion=promotion, code="FLYER2", max_uses=1)
    members = [MemberFactory() for _ in range(2)]

    outcomes = checkout_race(members, location, service, promo_codes=["flyer2"])

    assert len(paid(outcomes)) == 1
    assert codes_of(outcomes) == {"promo_code_used_up": 1}
    code.refresh_from_db()
    assert code.uses == 1
    redemption = Redemption.objects.get()
    assert (redemption.code, redemption.visit) == (code, paid(outcomes)[0])
    assert PromoCode.objects.get().uses == 1


def test_many_threads_many_single_use_codes_each_used_once(location, service):
    promotion = PromotionFactory(name="Flyer", code_required=True, percent=D("50"))
    PromoCodeFactory(promotion=promotion, code="FLYER2", max_uses=1)
    PromoCodeFactory(promotion=promotion, code="FLYER3", max_uses=1)
    members = [MemberFactory() for _ in range(THREADS)]

    outcomes = race(
        THREADS,
        lambda i: checkout_commit(
            member=members[i],
            location=location,
            lines=[VisitLineInput(service=service)],
            promo_codes=["FLYER2" if i % 2 else "FLYER3"],
        ),
    )

    assert len(paid(outcomes)) == 2
    assert codes_of(outcomes) == {"promo_code_used_up": THREADS - 2}
    assert set(PromoCode.objects.values_list("code", "uses")) == {
        ("FLYER2", 1),
        ("FLYER3", 1),
    }
    # No budget: no usage row to queue on; its redemptions are the count.
    assert not PromotionUsage.objects.filter(promotion=promotion).exists()
    assert Redemption.objects.filter(promotion=promotion).count() == 2
