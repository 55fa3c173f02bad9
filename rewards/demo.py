"""The demo program: the reward catalogue, premium earn rates and tier perks;
and, once the members have points, the vouchers some of them bought.

Idempotent (``get_or_create`` by name); it never changes what a manager edited.
Uses the demo catalogue's service codes and skips a reward whose service is
missing, so it also runs on a real catalogue without failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from members.models import Member, Service, ServiceCategory
from rewards.models import CategoryEarnRate, Reward, Tier, Voucher
from rewards.services import reward_redeem

# name (en, ru), kind, points cost, service code, percent, amount, min tier,
# stock, per-member limit, voucher validity days
REWARDS = [
    (
        ("Free 30-minute back massage", "Бесплатный массаж спины, 30 мин"),
        "free_service",
        1500,
        "classic-30",
        None,
        None,
        None,
        None,
        None,
        60,
    ),
    (
        ("Aromatherapy add-on", "Ароматерапия в подарок"),
        "add_on",
        450,
        "aroma-addon",
        None,
        None,
        None,
        None,
        None,
        60,
    ),
    (
        ("Premium oils add-on", "Премиальные масла в подарок"),
        "add_on",
        650,
        "premium-oil-addon",
        None,
        None,
        None,
        None,
        None,
        60,
    ),
    (
        ("Extended session, +30 minutes", "Продление сеанса на 30 минут"),
        "extended_session",
        1100,
        "extra-30-addon",
        None,
        None,
        "silver",
        None,
        None,
        60,
    ),
    (
        ("10% off your next visit", "Скидка 10% на следующий визит"),
        "percent_discount",
        700,
        None,
        "10",
        None,
        None,
        None,
        2,
        30,
    ),
    (
        ("500 ₽ off your next visit", "500 ₽ на следующий визит"),
        "fixed_discount",
        500,
        None,
        None,
        "500",
        None,
        None,
        None,
        30,
    ),
    (
        ("Herbal tea set from our partner", "Набор травяного чая от партнёра"),
        "partner",
        900,
        None,
        None,
        None,
        None,
        50,
        1,
        90,
    ),
    (
        ("Priority booking for a month", "Приоритетная запись на месяц"),
        "priority_booking",
        800,
        None,
        None,
        None,
        "silver",
        None,
        None,
        30,
    ),
]
# Premium categories earn more: points per 100 paid (base rate is 5).
CATEGORY_RATES = {"stones": "7", "spa": "7"}
# Monthly tier perks: tier code -> reward (en name) issued on the 1st.
TIER_PERKS = {"gold": "Free 30-minute back massage", "platinum": "Aromatherapy add-on"}


@dataclass
class DemoProgramStats:
    rewards_created: int = 0
    rates_created: int = 0
    perks_set: int = 0


def demo_program_ensure(*, russian: bool = False) -> DemoProgramStats:
    stats = DemoProgramStats()
    services = {s.code: s for s in Service.objects.all()}
    tiers = {t.code: t for t in Tier.objects.all()}
    by_en_name = {}
    for (en, ru), kind, cost, svc, pct, amount, tier, stock, limit, days in REWARDS:
        if svc and svc not in services:
            continue
        name = ru if russian else en
        reward = Reward.objects.filter(name__in=[en, ru]).first()
        if reward is None:
            reward = Reward.objects.create(
                name=name,
                kind=kind,
                points_cost=cost,
                service=services.get(svc) if svc else None,
                discount_percent=Decimal(pct) if pct else None,
                discount_amount=Decimal(amount) if amount else None,
                min_tier=tiers.get(tier) if tier else None,
                stock=stock,
                per_member_limit=limit,
                voucher_valid_days=days,
                sort_order=len(by_en_name),
            )
            stats.rewards_created += 1
        by_en_name[en] = reward
    for code, rate in CATEGORY_RATES.items():
        category = ServiceCategory.objects.filter(code=code).first()
        if category is None:
            continue
        _, created = CategoryEarnRate.objects.get_or_create(
            category=category, defaults={"rate": Decimal(rate)}
        )
        stats.rates_created += created
    for tier_code, reward_name in TIER_PERKS.items():
        tier = tiers.get(tier_code)
        reward = by_en_name.get(reward_name)
        if tier and reward and tier.monthly_reward_id is None:
            Tier.objects.filter(pk=tier.pk).update(monthly_reward=reward)
            stats.perks_set += 1
    return stats


# The request key of a demo redemption (reward_redeem stores it as
# "redeem:<member id>:demo-voucher-<reward id>"): how a second run finds them.
VOUCHER_KEY = "demo-voucher"


@dataclass
class DemoVoucherStats:
    vouchers: int = 0
    members: int = 0
    skipped: bool = False


def demo_vouchers_ensure(*, members: int = 30) -> DemoVoucherStats:
    """Active vouchers the ``members`` demo members with the most points bought.

    Each buys one reward their points and tier allow, every other one a second
    if the rest still covers it, through ``reward_redeem``: the points leave
    the ledger as a spend, stock and per-member limits hold, and the "your
    reward is ready" notice is queued, exactly as a redemption in the app. Run
    it after ``points_backfill``. Idempotent: once any demo voucher exists a
    second run adds nothing (the richest members have changed by then).
    """
    stats = DemoVoucherStats()
    if Voucher.objects.filter(idempotency_key__contains=f":{VOUCHER_KEY}-").exists():
        stats.skipped = True
        return stats
    rewards = list(
        Reward.objects.filter(is_active=True, points_cost__gt=0)
        .select_related("min_tier")
        .order_by("sort_order", "pk")
    )
    if not rewards:
        return stats
    cheapest = min(reward.points_cost for reward in rewards)
    buyers = (
        Member.objects.filter(
            status=Member.Status.ACTIVE, wallet__available__gte=cheapest
        )
        .select_related("wallet__tier")
        .order_by("-wallet__available", "pk")[:members]
    )
    for i, member in enumerate(buyers):
        wallet = member.wallet
        rank = wallet.tier.rank if wallet.tier else None
        points, tried, bought = wallet.available, set(), 0
        for turn in range(1 if i % 2 else 2):
            # The rewards this member may take; picks rotate with the member so
            # that the buyers spread over the whole catalogue.
            fits = [
                r
                for r in rewards
                if r.pk not in tried
                and r.points_cost <= points
                and (
                    r.min_tier is None or (rank is not None and rank >= r.min_tier.rank)
                )
            ]
            if not fits:
                break
            reward = fits[(i + turn * 3) % len(fits)]
            tried.add(reward.pk)
            try:
                reward_redeem(
                    member=member,
                    reward=reward,
                    idempotency_key=f"{VOUCHER_KEY}-{reward.pk}",
                )
            except ValidationError:
                # Refused by the service (out of stock, over the member's
                # limit, not on sale today): this member buys nothing more.
                break
            points -= reward.points_cost
            bought += 1
        stats.vouchers += bought
        stats.members += bool(bought)
    return stats
