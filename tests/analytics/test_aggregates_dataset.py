"""A constructed history for the analytics tests, recorded through the
services at the moments it happens (``time_machine``), so the ledger, the
lots and the tier history are what the product writes.

Members (locations A and B; tiers: everyone starts on ``base``):
- m1 at A: 2026-03-01 00:00:00 (local midnight), exactly 30 × 24 h later
  (03-31 00:00:00: retained), then 04-02, 04-05, 04-10 (the fifth visit:
  silver), 04-20 (at silver); redeems a reward on 04-21.
- m2: A on 02-28 23:59:59, B one second more than 30 × 24 h later (03-31
  00:00:00: not retained); a 10-day bonus on 03-01 that expires on 03-11.
- m3 at A: 03-05 (cancelled on 03-06), 03-10 (so the first paid one),
  03-20 (retained; 3000 + a 500 add-on), the add-on refunded on 03-21.
- m4 at B: 01-10; 03-15 refunded in full on 03-16.
- m5 at A: 2025-12-20 and 2025-12-21.
- anonymous visits (when the POS may record them): A 03-01 and 03-31, B 04-02.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import time_machine

from members import services
from members.models import Visit, VisitLine
from members.services.refunds import visit_refund_partial
from members.services.visits import VisitLineInput, visit_insert
from rewards.models import Tier
from rewards.services import reward_redeem
from rewards.services.batch.points import lots_expire
from rewards.services.points import points_bonus
from tests.conftest import moscow
from tests.factories.members import LocationFactory, MemberFactory
from tests.factories.rewards import RewardFactory

ANONYMOUS_OK = Visit._meta.get_field("member").null


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def visit(record, member, moment: datetime, location, amount="3000.00", lines=None):
    with at(moment):
        return record(
            member, location=location, paid_at=moment, amount_paid=amount, lines=lines
        )


def anonymous_visit(location, service, moment: datetime, amount: str) -> Visit:
    with at(moment):
        return visit_insert(
            member=None,
            location=location,
            priced=[(service, Decimal(amount), 1)],
            amount_paid=Decimal(amount),
            paid_at=moment,
            source=Visit.Source.ADMIN,
            external_id="",
            fingerprint="anonymous",
        ).visit


@pytest.fixture
def history(db, record_visit, location, service, addon):
    a, b = location, LocationFactory(name="Chistye Prudy", code="chistye")
    m1, m2, m3, m4, m5 = (MemberFactory(first_name=f"M{i}") for i in range(1, 6))

    visit(record_visit, m5, moscow(2025, 12, 20, 11, 0), a, "1000.00")
    visit(record_visit, m5, moscow(2025, 12, 21, 11, 0), a, "1500.00")
    visit(record_visit, m4, moscow(2026, 1, 10, 15, 0), b, "2000.00")
    visit(record_visit, m2, moscow(2026, 2, 28, 23, 59, 59), a, "2500.00")
    visit(record_visit, m1, moscow(2026, 3, 1, 0, 0, 0), a)
    with at(moscow(2026, 3, 1, 9, 0)):
        points_bonus(
            member=m2, points=200, key="welcome:m2", reason="welcome", lifetime_days=10
        )
    cancelled = visit(record_visit, m3, moscow(2026, 3, 5, 12, 0), a, "900.00")
    with at(moscow(2026, 3, 6, 10, 0)):
        services.visit_cancel(visit=cancelled, reason="mistake")
    visit(record_visit, m3, moscow(2026, 3, 10, 12, 0), a, "1200.00")
    with at(moscow(2026, 3, 12, 0, 10)):
        lots_expire(on=moscow(2026, 3, 12, 0, 10).date())
    refunded = visit(record_visit, m4, moscow(2026, 3, 15, 15, 0), b, "2000.00")
    with at(moscow(2026, 3, 16, 10, 0)):
        services.visit_refund(visit=refunded, reason="unhappy")
    both = [VisitLineInput(service=service), VisitLineInput(service=addon)]
    partly = visit(record_visit, m3, moscow(2026, 3, 20, 12, 0), a, "3500.00", both)
    with at(moscow(2026, 3, 21, 10, 0)):
        line = VisitLine.objects.get(visit=partly, service=addon)
        visit_refund_partial(visit=partly, lines=[(line, 1)], key="refund:m3")
    visit(record_visit, m1, moscow(2026, 3, 31, 0, 0, 0), a, "2800.00")
    visit(record_visit, m2, moscow(2026, 3, 31, 0, 0, 0), b, "2600.00")
    for day in (2, 5, 10, 20):
        visit(record_visit, m1, moscow(2026, 4, day, 18, 0), a, "3000.00")
    with at(moscow(2026, 4, 21, 12, 0)):
        reward_redeem(
            member=m1, reward=RewardFactory(points_cost=100), idempotency_key="r:m1"
        )
    if ANONYMOUS_OK:
        anonymous_visit(a, service, moscow(2026, 3, 1, 10, 0), "700.00")
        anonymous_visit(a, service, moscow(2026, 3, 31, 0, 0, 0), "800.00")
        anonymous_visit(b, service, moscow(2026, 4, 2, 13, 0), "900.00")
    return {
        "a": a,
        "b": b,
        "members": (m1, m2, m3, m4, m5),
        "base": Tier.objects.get(code="base"),
        "silver": Tier.objects.get(code="silver"),
    }
