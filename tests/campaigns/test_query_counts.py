"""A quote costs the same number of queries with 50 running promotions as with
one: the promotions come from the process cache and are evaluated in memory;
limits, budgets and codes cost one query each, whatever the number of
promotions having them."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.campaigns.conftest import promo_benefits
from tests.factories import PromoCodeFactory, PromotionFactory, PromotionGroupFactory

pytestmark = pytest.mark.django_db


def make(n: int, **fields):
    group = PromotionGroupFactory(mode="stack")
    return [
        PromotionFactory(name=f"P{i}", group=group, percent=Decimal("1"), **fields)
        for i in range(n)
    ]


def queries_of_a_quote(quote, member, **inputs) -> tuple[int, object]:
    quote(member, **inputs)  # warm the process caches
    quote(member, **inputs)
    with CaptureQueriesContext(connection) as ctx:
        result = quote(member, **inputs)
    return len(ctx.captured_queries), result


@pytest.mark.parametrize(
    ("fields", "extra"),
    [
        ({}, 0),
        ({"uses_per_member": 3}, 1),
        ({"max_redemptions": 100}, 1),
        ({"budget_money": Decimal("9999")}, 1),
        ({"uses_per_member": 3, "budget_points": 100}, 2),
    ],
    ids=["plain", "per member", "max redemptions", "budget", "both"],
)
def test_fifty_promotions_cost_what_one_does(
    fields, extra, regular, quote, location, service
):
    none_count, _ = queries_of_a_quote(quote, regular)

    make(1, **fields)
    one_count, one = queries_of_a_quote(quote, regular)
    assert len(promo_benefits(one)) == 1

    make(49, **fields)
    fifty_count, fifty = queries_of_a_quote(quote, regular)
    assert len(promo_benefits(fifty)) == 50

    assert fifty_count == one_count
    assert one_count == none_count + extra


def test_codes_cost_one_query_however_many(regular, quote):
    promotions = make(5, code_required=True)
    for n, promotion in enumerate(promotions):
        PromoCodeFactory(promotion=promotion, code=f"CODE{n + 2}")
    make(45)

    one, q1 = queries_of_a_quote(quote, regular, promo_codes=["code2"])
    five, q5 = queries_of_a_quote(
        quote, regular, promo_codes=[f"code{n + 2}" for n in range(5)]
    )

    assert one == five
    assert len(promo_benefits(q1)) == 46
    assert len(promo_benefits(q5)) == 50
