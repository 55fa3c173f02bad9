"""The demo program: the reward catalogue, premium earn rates and tier perks.

Idempotent (``get_or_create`` by name); it never changes what a manager edited.
Uses the demo catalogue's service codes and skips a reward whose service is
missing, so it also runs on a real catalogue without failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from members.models import Service, ServiceCategory
from rewards.models import CategoryEarnRate, Reward, Tier

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
