"""Demo promotions for the demo chain: happy hours, a themed month, a combo, a
welcome code, a birthday week and "three services, the cheapest a gift".

Drawn from the demo catalogue (``members.demo``: its category codes), in the
demo's language. Idempotent: each promotion is found by its name (a group by
its name, the welcome code by its text), so a second run adds nothing and
keeps what a manager changed since.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import PromoCode, Promotion, PromotionGroup
from members import demo as members_demo
from members.models import ServiceCategory

WELCOME_CODE = "WELCOME"
MASSAGES = ("classic", "sports", "thai", "stones", "lymph")

# code, English name, Russian name, order, mode
GROUPS = [
    ("offers", "Offers", "Акции", 10, PromotionGroup.Mode.BEST),
    ("codes", "Codes and bonus points", "Промокоды и бонусы", 20, PromotionGroup.Mode.STACK),
]  # fmt: skip


@dataclass
class DemoCampaignStats:
    created: list[str] = field(default_factory=list)  # names of the new promotions
    existing: int = 0

    @property
    def skipped(self) -> bool:
        return not self.created


def _month(today: date) -> tuple[datetime, datetime]:
    """The start of ``today``'s month and of the next one, in the program's zone."""
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = today.replace(day=1)
    after = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(after, time.min, tzinfo=tz),
    )


def _promotions(today: date) -> list[dict]:
    """Each demo promotion: its names, group, fields and condition lists."""
    month_start, month_end = _month(today)
    return [
        {
            "names": ("Happy hours", "Счастливые часы"),
            "descriptions": (
                "15% off massages on weekdays, 10:00–13:00",
                "−15 % на массаж по будням с 10:00 до 13:00",
            ),
            "group": "offers",
            "fields": {
                "priority": 10,
                "effect": Promotion.Effect.PERCENT_LINES,
                "percent": Decimal("15"),
                "weekdays": "12345",
                "time_from": time(10, 0),
                "time_to": time(13, 0),
            },
            "categories": MASSAGES,
        },
        {
            "names": ("Month of body care", "Месяц ухода за телом"),
            "descriptions": (
                "10% off spa rituals all month",
                "−10 % на спа-ритуалы весь месяц",
            ),
            "group": "offers",
            "fields": {
                "priority": 20,
                "effect": Promotion.Effect.PERCENT_LINES,
                "percent": Decimal("10"),
                "starts_at": month_start,
                "ends_at": month_end,
            },
            "categories": ("spa",),
        },
        {
            "names": ("Massage + spa ritual", "Массаж + спа-ритуал"),
            "descriptions": (
                "1,000 ₽ off a classic massage and a spa ritual in one visit",
                "−1000 ₽ за классический массаж и спа-ритуал в один визит",
            ),
            "group": "offers",
            "fields": {
                "priority": 30,
                "effect": Promotion.Effect.FIXED_BILL,
                "amount": Decimal("1000"),
            },
            "combo_categories": ("classic", "spa"),
        },
        {
            "names": (
                "3 services — the cheapest is a gift",
                "3 услуги — самая дешёвая в подарок",
            ),
            "descriptions": (
                "Three services in one visit: the cheapest one is free",
                "Три услуги за визит — самая дешёвая бесплатно",
            ),
            "group": "offers",
            "fields": {
                "priority": 40,
                "effect": Promotion.Effect.CHEAPEST_FREE,
                "min_lines": 3,
            },
            "excluded_categories": ("addons",),
        },
        {
            "names": ("Welcome code", "Промокод WELCOME"),
            "descriptions": (
                "20% off the first visit with the code WELCOME",
                "−20 % на первый визит по промокоду WELCOME",
            ),
            "group": "codes",
            "fields": {
                "priority": 10,
                "effect": Promotion.Effect.PERCENT_BILL,
                "percent": Decimal("20"),
                "first_visit": True,
                "code_required": True,
            },
            "code": WELCOME_CODE,
        },
        {
            "names": ("Birthday week ×2 points", "Неделя дня рождения: баллы ×2"),
            "descriptions": (
                "Double points within a week of your birthday",
                "Двойные баллы за неделю до и после дня рождения",
            ),
            "group": "codes",
            "fields": {
                "priority": 20,
                "effect": Promotion.Effect.POINTS_MULTIPLIER,
                "multiplier": Decimal("2"),
                "birthday_days": 7,
                "points_lifetime_days": 30,
            },
        },
    ]


DEMO_PROMOTIONS = len(_promotions(date(2026, 1, 1)))


def _categories(codes: set[str], *, russian: bool) -> dict[str, ServiceCategory]:
    found = {c.code: c for c in ServiceCategory.objects.filter(code__in=codes)}
    if len(found) < len(codes):  # no demo chain yet: its catalogue first
        members_demo.catalogue_ensure(russian=russian)
        found = {c.code: c for c in ServiceCategory.objects.filter(code__in=codes)}
    return found


def campaigns_demo_ensure(
    *, russian: bool = False, today: date | None = None
) -> DemoCampaignStats:
    """Create the demo promotions that are missing (by name), all active."""
    today = today or timezone.localdate()
    lang = 1 if russian else 0
    stats = DemoCampaignStats()
    specs = _promotions(today)
    wanted = {
        code
        for spec in specs
        for key in ("categories", "combo_categories", "excluded_categories")
        for code in spec.get(key, ())
    }
    with transaction.atomic():
        categories = _categories(wanted, russian=russian)
        groups = {}
        for code, en, ru, order, mode in GROUPS:
            groups[code], _created = PromotionGroup.objects.get_or_create(
                name=ru if russian else en, defaults={"order": order, "mode": mode}
            )
        for spec in specs:
            promotion, created = Promotion.objects.get_or_create(
                name=spec["names"][lang],
                defaults={
                    "description": spec["descriptions"][lang],
                    "status": Promotion.Status.ACTIVE,
                    "group": groups[spec["group"]],
                    **spec["fields"],
                },
            )
            if not created:
                stats.existing += 1
                continue
            for key in ("categories", "combo_categories", "excluded_categories"):
                if spec.get(key):
                    getattr(promotion, key).set(
                        [categories[c] for c in spec[key] if c in categories]
                    )
            if spec.get("code"):
                PromoCode.objects.get_or_create(
                    code=spec["code"], defaults={"promotion": promotion}
                )
            stats.created.append(promotion.name)
    return stats
