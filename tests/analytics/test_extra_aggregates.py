"""The specialists' and services' aggregates: known answers on a small
dataset, equal to a direct computation from the raw lines, and idempotent."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from analytics.aggregates_extra import extra_refresh
from analytics.models import (
    ServiceDaily,
    ServiceMonthly,
    ServicePairDaily,
    ServicePairMonthly,
    SpecialistDaily,
    SpecialistMonthly,
)
from members import services
from members.models import Specialist, Visit, VisitLine
from members.services import VisitLineInput
from tests.conftest import moscow
from tests.factories import LocationFactory, MemberFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(moscow(2026, 4, 1, 12), tick=False):
        yield


@pytest.fixture
def shop(location, service, addon):
    """Two locations, three services, two specialists, two members, and the
    visits of early March 2026 (see each line's comment)."""
    other = LocationFactory(name="Tverskaya", code="tver")
    nails = ServiceFactory(name="Manicure", code="mani", base_price=Decimal("1500"))
    olga = Specialist.objects.create(name="Olga", code="olga")
    kirill = Specialist.objects.create(name="Kirill", code="kirill")
    olga.locations.set([location, other])
    kirill.locations.set([location, other])
    anna, boris = MemberFactory(), MemberFactory()

    def visit(member, when, lines, at=location):
        return record(member, at, when, lines)

    def line(svc, who, **kw):
        return VisitLineInput(service=svc, specialist=who, **kw)

    # 1 March: Anna, massage and aroma by Olga (a pair).
    visit(anna, moscow(2026, 3, 1, 10), [line(service, olga), line(addon, olga)])
    # 2 March, 23:30 Moscow (20:30 UTC): Anna, massage by Olga — her return.
    visit(anna, moscow(2026, 3, 2, 23, 30), [line(service, olga)])
    # 2 March at Tverskaya: Boris, 2 massages by Kirill at 2800, aroma by Olga.
    second = visit(
        boris,
        moscow(2026, 3, 2, 12),
        [line(service, kirill, quantity=2, price="2800"), line(addon, olga)],
        at=other,
    )
    # 3 March: Boris, manicure by Kirill (back to Kirill, another location)
    # and a massage with nobody named.
    visit(boris, moscow(2026, 3, 3, 9), [line(nails, kirill), line(service, None)])
    # 3 March: Anna's massage by Olga, refunded: counts for nothing.
    gone = visit(anna, moscow(2026, 3, 3, 15), [line(service, olga)])
    services.visit_refund(visit=gone)
    # One of Boris's two massages of 2 March refunded.
    massage = second.lines.get(service=service)
    services.visit_refund_partial(visit=second, lines=[(massage, 1)], key="r1")
    # An anonymous visit on 3 March: manicure by Olga.
    visit(None, moscow(2026, 3, 3, 18), [line(nails, olga)])
    return {
        "main": location,
        "other": other,
        "massage": service,
        "aroma": addon,
        "nails": nails,
        "olga": olga,
        "kirill": kirill,
    }


def record(member, location, when, lines):
    """A paid visit through the services; an anonymous one (``member`` None)
    as the checkout writes it."""
    if member is not None:
        return services.visit_record(
            member=member, location=location, paid_at=when, lines=lines
        ).visit
    priced = [
        (ln.service, Decimal(ln.price or ln.service.base_price), ln.quantity)
        for ln in lines
    ]
    return services.visit_insert(
        member=None,
        location=location,
        priced=priced,
        amount_paid=sum((p * q for _s, p, q in priced), Decimal(0)),
        paid_at=when,
        source=Visit.Source.ADMIN,
        external_id="",
        fingerprint="anonymous",
        specialists=[ln.specialist for ln in lines],
    ).visit


def _service_table():
    return {
        (r.day, r.location_id, r.specialist_id, r.service_id): (
            r.units,
            r.revenue,
            r.visits,
        )
        for r in ServiceDaily.objects.all()
    }


def _specialist_table():
    return {
        (r.day, r.location_id, r.specialist_id): (
            r.visits,
            r.revenue,
            r.member_visits,
            r.returning_visits,
        )
        for r in SpecialistDaily.objects.all()
    }


def _pair_table():
    return {
        (r.month, r.location_id, r.service_a_id, r.service_b_id): r.visits
        for r in ServicePairMonthly.objects.all()
    }


def test_known_answers(shop):
    extra_refresh(date(2026, 3, 1), date(2026, 3, 31))

    main, other = shop["main"].pk, shop["other"].pk
    olga, kirill = shop["olga"].pk, shop["kirill"].pk
    massage, aroma, nails = shop["massage"].pk, shop["aroma"].pk, shop["nails"].pk
    d1, d2, d3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
    assert _service_table() == {
        (d1, main, olga, massage): (1, Decimal("3000.00"), 1),
        (d1, main, olga, aroma): (1, Decimal("500.00"), 1),
        (d2, main, olga, massage): (1, Decimal("3000.00"), 1),
        (d2, other, kirill, massage): (1, Decimal("2800.00"), 1),
        (d2, other, olga, aroma): (1, Decimal("500.00"), 1),
        (d3, main, kirill, nails): (1, Decimal("1500.00"), 1),
        (d3, main, None, massage): (1, Decimal("3000.00"), 1),
        (d3, main, olga, nails): (1, Decimal("1500.00"), 1),
    }
    assert _specialist_table() == {
        (d1, main, olga): (1, Decimal("3500.00"), 1, 0),
        (d2, main, olga): (1, Decimal("3000.00"), 1, 1),
        (d2, other, olga): (1, Decimal("500.00"), 1, 0),
        (d2, other, kirill): (1, Decimal("2800.00"), 1, 0),
        (d3, main, kirill): (1, Decimal("1500.00"), 1, 1),
        (d3, main, olga): (1, Decimal("1500.00"), 0, 0),
    }
    march = date(2026, 3, 1)
    assert _pair_table() == {
        (march, main, *sorted([massage, aroma])): 1,
        (march, other, *sorted([massage, aroma])): 1,
        (march, main, *sorted([massage, nails])): 1,
    }


def _direct():
    """The three tables computed in Python from every raw line."""
    zone = ZoneInfo(settings.TIME_ZONE)
    services_ = defaultdict(lambda: [0, Decimal(0), set()])
    specialists = defaultdict(lambda: [set(), Decimal(0), set(), set()])
    pairs = defaultdict(set)
    seen = set()  # (member, specialist) served so far, in paid order
    visits = Visit.objects.filter(status=Visit.Status.PAID).order_by("paid_at", "pk")
    for visit in visits.prefetch_related("lines"):
        day = visit.paid_at.astimezone(zone).date()
        sold = [ln for ln in visit.lines.all() if ln.quantity > ln.refunded_quantity]
        by_specialist = defaultdict(list)
        for ln in sold:
            units = ln.quantity - ln.refunded_quantity
            row = services_[(day, visit.location_id, ln.specialist_id, ln.service_id)]
            row[0] += units
            row[1] += ln.price * units
            row[2].add(visit.pk)
            if ln.specialist_id:
                by_specialist[ln.specialist_id].append(ln.price * units)
        for who, amounts in by_specialist.items():
            row = specialists[(day, visit.location_id, who)]
            row[0].add(visit.pk)
            row[1] += sum(amounts)
            if visit.member_id:
                row[2].add(visit.pk)
                if (visit.member_id, who) in seen:
                    row[3].add(visit.pk)
        for who in by_specialist:
            if visit.member_id:
                seen.add((visit.member_id, who))
        kinds = sorted({ln.service_id for ln in sold})
        for i, a in enumerate(kinds):
            for b in kinds[i + 1 :]:
                pairs[(day.replace(day=1), visit.location_id, a, b)].add(visit.pk)
    return (
        {k: (v[0], v[1], len(v[2])) for k, v in services_.items()},
        {k: (len(v[0]), v[1], len(v[2]), len(v[3])) for k, v in specialists.items()},
        {k: len(v) for k, v in pairs.items()},
    )


def test_equal_to_a_direct_computation_and_idempotent(shop):
    # A busier April on top of the March visits: several members, every
    # specialist and service, across midnight.
    members = [MemberFactory() for _ in range(4)]
    catalogue = [shop["massage"], shop["aroma"], shop["nails"]]
    staff = [shop["olga"], shop["kirill"], None]
    for n in range(24):
        record(
            members[n % 4] if n % 5 else None,
            shop["main"] if n % 3 else shop["other"],
            moscow(2026, 3, 20, 22) + timedelta(hours=5 * n),
            [
                VisitLineInput(service=catalogue[n % 3], specialist=staff[n % 3]),
                VisitLineInput(
                    service=catalogue[(n + 1) % 3], specialist=staff[(n // 2) % 3]
                ),
            ],
        )

    extra_refresh(date(2026, 3, 1), date(2026, 3, 31))
    first = (_service_table(), _specialist_table(), _pair_table())
    extra_refresh(date(2026, 3, 1), date(2026, 3, 31))
    assert (_service_table(), _specialist_table(), _pair_table()) == first
    assert first == _direct()
    _assert_months_are_their_days()
    assert VisitLine.objects.count() > 50


def _monthly_of_daily(daily, keys, names):
    out = defaultdict(lambda: dict.fromkeys(names, 0))
    for row in daily.objects.all():
        key = (row.day.replace(day=1), *(getattr(row, k) for k in keys))
        for name in names:
            out[key][name] += getattr(row, name)
    return dict(out)


def _monthly(monthly, keys, names):
    return {
        (row.month, *(getattr(row, k) for k in keys)): {
            name: getattr(row, name) for name in names
        }
        for row in monthly.objects.all()
    }


def _assert_months_are_their_days():
    for daily, monthly, keys, names in [
        (
            ServiceDaily,
            ServiceMonthly,
            ["location_id", "specialist_id", "service_id"],
            ["units", "revenue", "visits"],
        ),
        (
            SpecialistDaily,
            SpecialistMonthly,
            ["location_id", "specialist_id"],
            ["visits", "revenue", "member_visits", "returning_visits"],
        ),
        (
            ServicePairDaily,
            ServicePairMonthly,
            ["location_id", "service_a_id", "service_b_id"],
            ["visits"],
        ),
    ]:
        assert _monthly(monthly, keys, names) == _monthly_of_daily(daily, keys, names)
        assert monthly.objects.exists()


def test_refresh_of_some_days_leaves_the_others(shop):
    extra_refresh(date(2026, 3, 1), date(2026, 3, 3))
    before = _specialist_table()
    for visit in Visit.objects.filter(
        paid_at__gte=moscow(2026, 3, 3), status=Visit.Status.PAID
    ):
        services.visit_cancel(visit=visit)
    extra_refresh(date(2026, 3, 3), date(2026, 3, 3))

    after = _specialist_table()
    assert {k: v for k, v in after.items() if k[0] < date(2026, 3, 3)} == {
        k: v for k, v in before.items() if k[0] < date(2026, 3, 3)
    }
    assert not [k for k in after if k[0] == date(2026, 3, 3)]
    # March's monthly sums follow: the 3 March pair is gone.
    assert sum(_pair_table().values()) == 2
    _assert_months_are_their_days()


def test_a_return_counts_against_visits_before_the_days_refreshed(shop):
    # Only 2 March: Anna's massage with Olga is a return (1 March, not
    # refreshed, is history all the same).
    extra_refresh(date(2026, 3, 2), date(2026, 3, 2))

    main, olga = shop["main"].pk, shop["olga"].pk
    assert _specialist_table()[(date(2026, 3, 2), main, olga)] == (
        1,
        Decimal("3000.00"),
        1,
        1,
    )
    assert not SpecialistDaily.objects.exclude(day=date(2026, 3, 2)).exists()
