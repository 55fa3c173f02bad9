"""Demo campaigns for the demo chain (seed 003's journeys): a two-step
win-back, a birthday journey, a cross-sell after a massage, and a finished
one-off send whose results page has numbers.

The one-off ("Spring news") is run as of 20 days before the demo's today
through the real engine (``campaigns.journeys.campaigns_run``): enrollments,
the holdout split, personal codes, ghost sends. Its messages are then marked
as sent then, and some treated members come back with their code through the
real checkout within the attribution window — so the page shows sends,
redemptions, conversions and an uplift over the control group's visits of
the demo history. Idempotent: everything is found by its name or key.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from campaigns.journeys import campaigns_run
from campaigns.models import (
    Arm,
    Campaign,
    CampaignSend,
    CampaignStep,
    Promotion,
    PromotionGroup,
    Segment,
)
from members.models import (
    Location,
    Member,
    Message,
    MessageTemplate,
    Service,
    ServiceCategory,
)
from members.services import VisitLineInput
from rewards.services import checkout_commit

SEED = 3
CONVERT_SHARE = 0.12  # treated members who come back with their code, on top

# key, (en subject, en body), (ru subject, ru body)
TEMPLATES = [
    ("winback_1",
     ("We miss you", "{{ member.first_name }}, it has been a while! Your code "
      "{{ code }} gives {{ offer }} until {{ expires }}."),
     ("Мы скучаем", "{{ member.first_name }}, давно не виделись! Ваш код "
      "{{ code }}: «{{ offer }}» до {{ expires }}.")),
    ("winback_2",
     ("A bigger gift to come back", "{{ member.first_name }}, come back with "
      "code {{ code }}: {{ offer }} until {{ expires }}."),
     ("Подарок побольше", "{{ member.first_name }}, возвращайтесь: код "
      "{{ code }} — «{{ offer }}» до {{ expires }}.")),
    ("birthday",
     ("Happy birthday!", "{{ member.first_name }}, {{ offer }} bonus points are "
      "yours for your birthday, until {{ expires }}."),
     ("С днём рождения!", "{{ member.first_name }}, дарим {{ offer }} бонусных "
      "баллов ко дню рождения, они действуют до {{ expires }}.")),
    ("cross_sell",
     ("Something new for you", "{{ member.first_name }}, try a spa ritual: code "
      "{{ code }} gives {{ offer }} until {{ expires }}."),
     ("Попробуйте новое", "{{ member.first_name }}, попробуйте спа-ритуал: код "
      "{{ code }} — «{{ offer }}» до {{ expires }}.")),
    ("spring_news",
     ("Spring at the salon", "{{ member.first_name }}, spring is here: code "
      "{{ code }} gives {{ offer }} until {{ expires }}."),
     ("Весна в салоне", "{{ member.first_name }}, весна пришла: код {{ code }} — "
      "«{{ offer }}» до {{ expires }}.")),
]  # fmt: skip

# key, en, ru, effect fields, categories
OFFERS = [
    ("back15", "Come back: 15% off", "Возвращайтесь: −15 %",
     {"effect": Promotion.Effect.PERCENT_BILL, "percent": Decimal("15")}, ()),
    ("back25", "Come back: 25% off", "Возвращайтесь: −25 %",
     {"effect": Promotion.Effect.PERCENT_BILL, "percent": Decimal("25")}, ()),
    ("spa20", "A first spa ritual: 20% off", "Первый спа-ритуал: −20 %",
     {"effect": Promotion.Effect.PERCENT_LINES, "percent": Decimal("20")}, ("spa",)),
    ("spring10", "Spring: 10% off", "Весна: −10 %",
     {"effect": Promotion.Effect.PERCENT_BILL, "percent": Decimal("10")}, ()),
]  # fmt: skip


@dataclass
class DemoJourneys:
    created: list[str] = field(default_factory=list)
    visits: int = 0


def journeys_demo_ensure(*, russian: bool, today: date | None = None) -> DemoJourneys:
    today = today or timezone.localdate()
    out = DemoJourneys()
    with transaction.atomic():
        _templates()
        offers = _offers(russian)
        spa = Segment.objects.get_or_create(
            name="Никогда не были на спа" if russian else "Never tried spa",
            defaults={"definition": {"op": "or", "rules": [{"op": "and", "rules": [
                {"field": "never_tried_category", "cmp": "in",
                 "value": _category_ids("spa")}]}]}},
        )[0]  # fmt: skip
        specs = [
            ("Возвращаем потерянных" if russian else "Win-back",
             {"trigger": Campaign.Trigger.NO_VISIT, "trigger_days": 42},
             [(0, "winback_1", "promotion", offers["back15"], None),
              (28, "winback_2", "promotion", offers["back25"], None)]),
            ("День рождения" if russian else "Birthday",
             {"trigger": Campaign.Trigger.BIRTHDAY, "trigger_days": 7},
             [(0, "birthday", "points", None, 500)]),
            ("Спа после массажа" if russian else "Spa after a massage",
             {"trigger": Campaign.Trigger.VISIT, "segment": spa, "exit_on_visit": False},
             [(7, "cross_sell", "promotion", offers["spa20"], None)]),
        ]  # fmt: skip
        for name, fields, steps in specs:
            if Campaign.objects.filter(name=name).exists():
                continue
            campaign = Campaign.objects.create(
                name=name, kind=Campaign.Kind.JOURNEY, status=Campaign.Status.ACTIVE,
                **fields,
            )  # fmt: skip
            if fields["trigger"] == Campaign.Trigger.VISIT:
                campaign.trigger_categories.set(_category_ids("classic"))
            _steps(campaign, steps)
            out.created.append(name)
    name = "Весенние новости" if russian else "Spring news"
    if not Campaign.objects.filter(name=name).exists():
        with transaction.atomic():
            out.visits = _spring_news(name, offers["spring10"], today)
        out.created.append(name)
    return out


def _templates() -> None:
    for key, en, ru in TEMPLATES:
        for language, (subject, body) in (("en", en), ("ru", ru)):
            for channel in ("push", "sms", "email"):
                MessageTemplate.objects.get_or_create(
                    key=key, channel=channel, language=language,
                    defaults={"subject": subject, "body": body},
                )  # fmt: skip


def _category_ids(*codes: str) -> list[int]:
    return list(
        ServiceCategory.objects.filter(code__in=codes).values_list("pk", flat=True)
    )


def _offers(russian: bool) -> dict[str, Promotion]:
    group, _ = PromotionGroup.objects.get_or_create(
        name="Предложения кампаний" if russian else "Campaign offers",
        defaults={"order": 30, "mode": PromotionGroup.Mode.BEST},
    )
    out = {}
    for key, en, ru, fields, categories in OFFERS:
        promotion, created = Promotion.objects.get_or_create(
            name=ru if russian else en,
            defaults={"group": group, "status": Promotion.Status.ACTIVE,
                      "code_required": True, **fields},
        )  # fmt: skip
        if created and categories:
            promotion.categories.set(_category_ids(*categories))
        out[key] = promotion
    return out


def _steps(campaign: Campaign, steps) -> None:
    for position, (delay, template, offer, promotion, points) in enumerate(steps, 1):
        CampaignStep.objects.create(
            campaign=campaign, position=position, delay_days=delay,
            template_key=template, channels="push,sms,email", offer=offer,
            promotion=promotion, points=points, offer_days=14,
        )  # fmt: skip


def _spring_news(name: str, offer: Promotion, today: date) -> int:
    """The finished one-off: sent 20 days ago to every member, 20 % held out,
    with a code valid for 30 days (its 14-day attribution window is over)."""
    sent_at = timezone.make_aware(
        datetime.combine(today - timedelta(days=20), time(11))
    )
    campaign = Campaign.objects.create(
        name=name, kind=Campaign.Kind.ONE_OFF, status=Campaign.Status.ACTIVE,
        send_at=sent_at, control_percent=Decimal("20"), created_at=sent_at,
    )  # fmt: skip
    _steps(campaign, [(0, "spring_news", "promotion", offer, None)])
    CampaignStep.objects.filter(campaign=campaign).update(offer_days=30)
    campaigns_run(sent_at, ids=[campaign.pk])
    sends = CampaignSend.objects.filter(campaign=campaign)
    Message.objects.filter(
        pk__in=sends.exclude(message=None).values("message_id")
    ).update(status=Message.Status.SENT, created_at=sent_at, sent_at=sent_at)
    return _comebacks(campaign, sent_at)


def _comebacks(campaign: Campaign, sent_at: datetime) -> int:
    """Some treated members come back with their code within two weeks."""
    rng = random.Random(SEED)
    location = Location.objects.filter(is_active=True).order_by("pk").first()
    services = list(Service.objects.filter(is_active=True, excluded_from_discounts=False)
                    .order_by("pk")[:12])  # fmt: skip
    if location is None or not services:
        return 0
    treated = list(
        CampaignSend.objects.filter(campaign=campaign, arm=Arm.TREATMENT)
        .exclude(code=None)
        .select_related("code")
        .order_by("pk")
    )
    chosen = [s for s in treated if rng.random() < CONVERT_SHARE]
    members = Member.objects.in_bulk([s.member_id for s in chosen])
    now = timezone.now()
    done = 0
    for send in chosen:
        paid_at = sent_at + timedelta(days=rng.randint(1, 13), hours=rng.randint(0, 6))
        if paid_at >= now:
            continue
        checkout_commit(
            member=members[send.member_id],
            location=location,
            lines=[VisitLineInput(service=rng.choice(services))],
            paid_at=paid_at,
            external_id=f"demo-spring-{send.pk}",
            promo_codes=[send.code.code],
        )
        done += 1
    return done
