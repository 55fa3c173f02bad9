"""Demo vouchers: the members with the most points bought rewards, through the
redemption service, so the ledger, the stock and the outbox agree."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from members.models import Location, Member, Message, Service
from members.services import VisitLineInput
from rewards.models import LedgerEntry, Reward, Voucher, Wallet
from rewards.services import checkout_quote
from rewards.verify import ledger_verify
from tests.rewards.conftest import assert_books_balance

pytestmark = pytest.mark.django_db

TODAY = "2026-11-23"


@pytest.fixture
def demo_with_points():
    """The demo chain, its program and the members' points history, as
    scripts/demo.sh builds them before the vouchers."""
    call_command(
        "seed_demo", "--members", "150", "--seed", "7", "--today", TODAY,
        "--no-progress", "--jobs", "1", verbosity=0, stdout=StringIO(),
    )  # fmt: skip
    call_command("seed_program_demo", stdout=StringIO())
    call_command(
        "points_backfill", "--no-progress", "--jobs", "1", "--spend-every", "4",
        stdout=StringIO(),
    )  # fmt: skip


def vouchers_seed(members=12) -> str:
    out = StringIO()
    call_command("seed_vouchers_demo", "--members", str(members), stdout=out)
    return out.getvalue()


def test_the_richest_members_hold_active_vouchers_they_paid_for(demo_with_points):
    richest = list(
        Wallet.objects.filter(member__status=Member.Status.ACTIVE)
        .order_by("-available", "pk")
        .values_list("member_id", "available")[:12]
    )

    printed = vouchers_seed(members=12)

    # Then a voucher or two each, active and unexpired, bought with points
    vouchers = list(Voucher.objects.select_related("reward"))
    assert f"{len(vouchers)} voucher(s) for 12 member(s)" in printed
    assert 12 <= len(vouchers) <= 24
    assert {v.member_id for v in vouchers} == {pk for pk, _points in richest}
    now = timezone.now()
    for voucher in vouchers:
        assert voucher.status == Voucher.Status.ACTIVE
        assert voucher.valid_until > now and voucher.used_at is None
        assert voucher.source == Voucher.Source.REDEMPTION
        assert voucher.points_cost == voucher.reward.points_cost > 0
        # And each has its spend in the ledger
        spend = LedgerEntry.objects.get(voucher=voucher, kind=LedgerEntry.Kind.SPEND)
        assert spend.amount == -voucher.points_cost
    assert len({v.reward_id for v in vouchers}) >= 4, "spread over the catalogue"
    # And each member hears of theirs in the app, as after a real redemption
    assert Message.objects.filter(template_key="voucher_issued").count() == len(
        vouchers
    )
    # And the books still balance: wallets, lots, hash chains
    for pk, points in richest:
        member = Member.objects.get(pk=pk)
        assert_books_balance(member)
        spent = sum(v.points_cost for v in vouchers if v.member_id == pk)
        assert Wallet.objects.get(pk=pk).available == points - spent
    assert ledger_verify().ok


def test_a_demo_voucher_applies_at_checkout(demo_with_points):
    vouchers_seed()
    voucher = Voucher.objects.filter(reward__kind=Reward.Kind.FIXED_DISCOUNT).first()

    quote = checkout_quote(
        member=voucher.member,
        location=Location.objects.order_by("pk").first(),
        lines=[VisitLineInput(service=Service.objects.get(code="classic-60"))],
        voucher_codes=[voucher.code],
    )

    assert [v.pk for v in quote.vouchers] == [voucher.pk]
    assert quote.discount_total >= 500


def test_a_second_run_adds_nothing(demo_with_points):
    vouchers_seed()
    before = sorted(Voucher.objects.values_list("pk", flat=True))
    entries = LedgerEntry.objects.count()

    printed = vouchers_seed()

    assert "nothing added" in printed
    assert sorted(Voucher.objects.values_list("pk", flat=True)) == before
    assert LedgerEntry.objects.count() == entries


def test_with_no_reward_on_sale_nobody_buys(demo_with_points):
    Reward.objects.update(is_active=False)

    printed = vouchers_seed()

    assert "0 voucher(s)" in printed
    assert not Voucher.objects.exists()
