"""One event per hook, made through the real services: what each event type
carries, and that it is written by the service that makes the change."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from members import services as member_services
from members.models import Visit, VisitLine
from members.privacy import member_erase
from referrals.services import referral_code_for
from rewards import services as reward_services
from rewards.models import LedgerEntry, Tier, Voucher
from rewards.services.vouchers import voucher_mark_used
from tests.factories import MemberFactory, RewardFactory
from tests.referrals.conftest import signup  # noqa: F401 - a fixture
from tests.rewards.conftest import program_defaults  # noqa: F401 - a fixture
from webhooks.models import Event


@pytest.fixture
def subscribed(make_endpoint):
    """An endpoint for every event type."""
    from webhooks.events import EVENT_TYPES

    return make_endpoint(events=list(EVENT_TYPES))


def events(type_: str) -> list[dict]:
    return [e.data for e in Event.objects.filter(type=type_).order_by("occurred_at")]


def test_member_created(subscribed):
    member = member_services.member_register(
        phone="8 916 123-00-01", first_name="Anna", last_name="Smirnova"
    )
    assert events("member.created") == [
        {
            "member_id": member.pk,
            "phone": "+79161230001",
            "first_name": "Anna",
            "last_name": "Smirnova",
            "email": "",
            "status": "active",
        }
    ]


def test_member_updated(subscribed, member):
    member_services.member_update(member=member, email="Anna@Example.com")
    [data] = events("member.updated")
    assert data["member_id"] == member.pk
    assert data["email"] == "anna@example.com"
    assert data["changed"] == ["email"]


def test_member_erased_carries_only_the_id(subscribed, member):
    member_erase(member=member)
    assert events("member.erased") == [{"member_id": member.pk}]


def test_visit_recorded(subscribed, member, record_visit, location):
    visit = record_visit(member, source=Visit.Source.POS, external_id="BK-1")
    [data] = events("visit.recorded")
    assert data == {
        "visit_id": visit.pk,
        "member_id": member.pk,
        "location_id": location.pk,
        "location": "patriki",
        "paid_at": data["paid_at"],
        "total": "3000.00",
        "amount_paid": "3000.00",
        "amount_refunded": "0.00",
        "status": "paid",
        "source": "pos",
        "external_id": "BK-1",
    }
    assert data["paid_at"].endswith("Z")


def test_visit_cancelled(subscribed, member, record_visit):
    visit = record_visit(member)
    member_services.visit_cancel(visit=visit, reason="Booked by mistake")
    [data] = events("visit.cancelled")
    assert (data["visit_id"], data["status"]) == (visit.pk, "cancelled")
    assert (data["partial"], data["reason"]) == (False, "Booked by mistake")


def test_visit_refunded_in_full(subscribed, member, record_visit):
    visit = record_visit(member)
    member_services.visit_refund(visit=visit, reason="Unhappy")
    [data] = events("visit.refunded")
    assert (data["visit_id"], data["status"], data["partial"]) == (
        visit.pk,
        "refunded",
        False,
    )


def test_visit_refunded_in_part(subscribed, member, record_visit, service, addon):
    visit = record_visit(
        member,
        lines=[
            member_services.VisitLineInput(service=service),
            member_services.VisitLineInput(service=addon),
        ],
    )
    aroma = VisitLine.objects.get(visit=visit, service=addon)
    refund = member_services.visit_refund_partial(
        visit=visit, lines=[(aroma, 1)], key="refund-1", reason="No oils"
    )
    [data] = events("visit.refunded")
    assert data["partial"] is True
    assert (data["refund_id"], data["refund_amount"]) == (refund.pk, "500.00")
    assert (data["amount_refunded"], data["status"]) == ("500.00", "paid")


def test_points_changed_once_per_ledger_entry(subscribed, member, location, service):
    result = reward_services.checkout_commit(
        member=member,
        location=location,
        lines=[member_services.VisitLineInput(service=service)],
    )
    entries = list(LedgerEntry.objects.filter(member=member).order_by("seq"))
    datas = events("points.changed")
    assert [d["entry_id"] for d in datas] == [e.pk for e in entries]
    earn = next(d for d in datas if d["kind"] == "earn")
    entry = next(e for e in entries if e.kind == "earn")
    assert earn == {
        "member_id": member.pk,
        "entry_id": entry.pk,
        "kind": "earn",
        "delta": entry.amount,
        "balance": entry.balance_after,
        "debt": 0,
        "reason": entry.reason,
        "visit_id": result.visit.pk,
        "voucher_id": None,
        "created_at": earn["created_at"],
    }


def test_tier_changed(subscribed, member):
    gold = Tier.objects.get(code="gold")
    reward_services.tier_override(
        member=member,
        tier=gold,
        until=timezone.localdate() + timedelta(days=30),
        reason="VIP",
        actor=None,
    )
    [data] = [d for d in events("tier.changed") if d["reason"] == "override"]
    assert data["member_id"] == member.pk
    assert data["to"] == "gold"


def test_voucher_issued_and_used(subscribed, member):
    reward = RewardFactory(partner=True, name="Coffee")
    voucher = reward_services.voucher_issue(
        member=member, reward=reward, key="gift-1", source=Voucher.Source.MANUAL
    )
    [issued] = events("voucher.issued")
    assert issued["voucher_id"] == voucher.pk
    assert (issued["code"], issued["status"], issued["reward"]) == (
        voucher.code,
        "active",
        "Coffee",
    )
    assert issued["discount_amount"] is None

    voucher_mark_used(voucher=voucher)
    [used] = events("voucher.used")
    assert (used["voucher_id"], used["status"]) == (voucher.pk, "used")
    assert used["used_at"] is not None


def test_a_voucher_bought_with_points_and_used_at_checkout(
    subscribed, member, location, service
):
    reward_services.points_bonus(
        member=member, points=500, key="test-bonus", reason="bonus"
    )
    reward = RewardFactory(fixed=True, points_cost=300)
    voucher = reward_services.reward_redeem(
        member=member, reward=reward, idempotency_key="k1"
    )
    [issued] = events("voucher.issued")
    assert (issued["voucher_id"], issued["points_cost"]) == (voucher.pk, 300)
    assert issued["discount_amount"] == "500.00"

    result = reward_services.checkout_commit(
        member=member,
        location=location,
        lines=[member_services.VisitLineInput(service=service)],
        voucher_codes=[voucher.code],
    )
    [used] = events("voucher.used")
    assert (used["voucher_id"], used["visit_id"]) == (voucher.pk, result.visit.pk)
    assert used["status"] == "used"


def test_referral_rewarded(subscribed, signup, record_visit):  # noqa: F811
    referrer = member_services.member_register(phone="+79161239999", first_name="Olga")
    code = referral_code_for(member=referrer).code
    friend = signup(code)

    visit = record_visit(friend, lines=None, amount_paid=Decimal("3000.00"))

    [data] = events("referral.rewarded")
    assert data["referrer_id"] == referrer.pk
    assert data["friend_id"] == friend.pk
    assert data["visit_id"] == visit.pk
    assert data["referrer_points"] > 0


def test_no_event_without_a_subscriber(member, record_visit):
    record_visit(member)
    assert Event.objects.count() == 0


def test_a_factory_member_emits_nothing(subscribed):
    # Factories write rows, not services: only services emit
    MemberFactory()
    assert Event.objects.count() == 0


def test_nightly_expiry_emits_points_changed_per_entry(
    make_endpoint,
    program_defaults,  # noqa: F811
):
    from rewards.services import batch
    from tests.rewards.conftest import give_points

    make_endpoint(events=["points.changed"])
    anna, boris = MemberFactory(), MemberFactory()
    with time_machine.travel("2025-01-10 09:00:00+00:00", tick=False):
        give_points(anna, 100, lifetime_days=30)
        give_points(boris, 40, lifetime_days=30)
        give_points(boris, 10, lifetime_days=90)
    Event.objects.all().delete()  # the bonuses' events

    with time_machine.travel("2025-02-09 00:10:00+03:00", tick=False):
        assert batch.lots_expire(on=date(2025, 2, 9))["members"] == 2

    by_member = {d["member_id"]: d for d in events("points.changed")}
    expired = {e.member_id: e for e in LedgerEntry.objects.filter(kind="expire")}
    assert by_member == {
        member.pk: {
            "member_id": member.pk,
            "entry_id": expired[member.pk].pk,
            "kind": "expire",
            "delta": delta,
            "balance": balance,
            "debt": 0,
            "reason": "expire",
            "visit_id": None,
            "voucher_id": None,
            "created_at": "2025-02-08T21:10:00.000Z",
        }
        for member, delta, balance in ((anna, -100, 0), (boris, -40, 10))
    }
