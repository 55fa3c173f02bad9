"""Segments and campaigns on the 1M-member demo database, timed.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python \\
        bench/campaigns.py [--send 100000] [--repeat 3] [--keep]

1. **Segment counts** (target ≤ 2 s on 1M members): ``segment_count`` of each
   built-in segment and of a few composite ones (AND/OR groups, windows of
   visits, categories tried), the median of ``--repeat`` runs each. Run
   ``manage.py scores_refresh`` first so the score-based ones have rows.
2. **Queuing a send to ``--send`` members** (target ≤ 30 s for 100,000): a
   one-off campaign to a segment of about that size (members with SMS
   consent, by registration order), 10 % held out, one step with a personal
   promo code: ``campaigns_run`` enrolls (one INSERT … SELECT), splits, makes
   the codes, renders and queues the messages, writes the sends. Then the
   same run again: it must change nothing. Everything it made is deleted
   afterwards unless ``--keep``.

The database's name must start with "regulars_bench".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns import segments  # noqa: E402
from campaigns.backtest import backtest  # noqa: E402
from campaigns.journeys import campaigns_run  # noqa: E402
from campaigns.models import (  # noqa: E402
    Campaign,
    CampaignSend,
    CampaignStep,
    Enrollment,
    PromoCode,
    Promotion,
    PromotionGroup,
    Segment,
)
from members.models import Member, Message, MessageTemplate, ServiceCategory  # noqa: E402

NAME = "Bench send"
PROFILE = False


def rule(field, cmp, value):
    return {"field": field, "cmp": cmp, "value": value}


def composite() -> dict[str, dict]:
    cats = list(ServiceCategory.objects.order_by("pk").values_list("pk", flat=True))
    return {
        "lapsed 60–180 days, ≥ 3 visits in all": {"op": "and", "rules": [
            rule("last_visit_days", "gte", 60), rule("last_visit_days", "lte", 180),
            rule("visits_count", "gte", 3)]},
        "≥ 2 visits in 90 days": {"op": "and", "rules": [
            rule("visits_in_days", "gte", {"days": 90, "amount": 2})]},
        "spent ≥ 10,000 in 180 days": {"op": "and", "rules": [
            rule("spend_in_days", "gte", {"days": 180, "amount": 10000})]},
        "≥ 2 visits in 90 days or spent ≥ 20,000 in 365": {"op": "or", "rules": [
            rule("visits_in_days", "gte", {"days": 90, "amount": 2}),
            rule("spend_in_days", "gte", {"days": 365, "amount": 20000})]},
        "visited category 1, never tried category 2": {"op": "and", "rules": [
            rule("visited_category", "in", cats[:1]),
            rule("never_tried_category", "in", cats[1:2])]},
        "birthday in 7 days, SMS consent": {"op": "and", "rules": [
            rule("birthday_in_days", "lte", 7), rule("consent", "in", ["sms"])]},
        "R ≥ 4 and M ≥ 4 (scores)": {"op": "and", "rules": [
            rule("r_score", "gte", 4), rule("m_score", "gte", 4)]},
    }  # fmt: skip


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def bench_counts(repeat: int) -> None:
    print(f"segment counts, median of {repeat}:")
    definitions = {f"built-in: {s.name}": s.definition
                   for s in Segment.objects.exclude(builtin=None).order_by("pk")}  # fmt: skip
    definitions.update(composite())
    for name, definition in definitions.items():
        seconds, count = timed(lambda d=definition: segments.segment_count(d), repeat)
        print(f"  {seconds:6.2f} s  {count:>9,}  {name}")


def audience(size: int) -> dict:
    """Members with SMS consent whose last visit is 0…D days old, D found by
    bisection so that about ``size`` are in it."""

    def definition(days: int) -> dict:
        return {"op": "and", "rules": [
            rule("consent", "in", ["sms"]), rule("last_visit_days", "lte", days)]}  # fmt: skip

    low, high = 1, 3650
    while low < high:
        mid = (low + high) // 2
        if segments.segment_count(definition(mid)) < size:
            low = mid + 1
        else:
            high = mid
    return definition(low)


def with_code_step(campaign: Campaign, promotion: Promotion) -> Campaign:
    """One SMS step offering a personal code of ``promotion``."""
    CampaignStep.objects.create(
        campaign=campaign, template_key="bench_send", channels="sms",
        offer="promotion", promotion=promotion,
    )  # fmt: skip
    return campaign


def bench_send(size: int, keep: bool) -> None:
    segment, _ = Segment.objects.update_or_create(
        name=NAME, defaults={"definition": audience(size)}
    )
    for language in ("en", "ru"):
        for channel in ("sms", "push"):
            MessageTemplate.objects.get_or_create(
                key="bench_send", channel=channel, language=language,
                defaults={"body": "{{ member.first_name }}, code {{ code }}: "
                          "{{ offer }} until {{ expires }}. {{ unsubscribe }}"},
            )  # fmt: skip
    group, _ = PromotionGroup.objects.get_or_create(name=NAME)
    promotion, _ = Promotion.objects.get_or_create(
        name=NAME, defaults={"group": group, "status": "active", "code_required": True,
                             "effect": "percent_bill", "percent": Decimal("10")},
    )  # fmt: skip
    cleanup(
        Campaign.objects.filter(name__startswith=NAME), promotion
    )  # a run cut short
    campaign = with_code_step(Campaign.objects.create(
        name=f"{NAME} {timezone.now():%H%M%S}", kind=Campaign.Kind.ONE_OFF,
        status=Campaign.Status.ACTIVE, segment=segment, control_percent=Decimal("10"),
    ), promotion)  # fmt: skip
    try:
        started = time.perf_counter()
        if PROFILE:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            result = profile.runcall(campaigns_run, ids=[campaign.pk])
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumtime").print_stats(
                "campaigns|messaging|members/models", 40
            )
        else:
            result = campaigns_run(ids=[campaign.pk])
        first = time.perf_counter() - started
        run = result.campaigns[0]
        print(
            f"send to {run.enrolled:,} members: {first:.1f} s "
            f"(sent {run.sent:,}, control {run.ghosts:,}, no channel {run.no_channel:,})"
        )
        started = time.perf_counter()
        again = campaigns_run(ids=[campaign.pk])
        print(
            f"the same run again: {time.perf_counter() - started:.1f} s, "
            f"enrolled {sum(r.enrolled for r in again.campaigns)}, "
            f"sent {sum(r.sent for r in again.campaigns)}"
        )
    finally:
        if not keep:
            cleanup(Campaign.objects.filter(pk=campaign.pk), promotion)


def cleanup(campaigns, promotion) -> None:
    """Delete what the sends made, set-based (a cascade collector would bind
    a parameter per row: more than PostgreSQL takes for 100,000)."""
    ids = list(campaigns.values_list("pk", flat=True))
    sends = CampaignSend.objects.filter(campaign_id__in=ids)
    messages = list(sends.exclude(message=None).values_list("message_id", flat=True))
    sends._raw_delete(sends.db)
    for start in range(0, len(messages), 20000):
        batch = Message.objects.filter(pk__in=messages[start : start + 20000])
        batch._raw_delete(batch.db)
    enrollments = Enrollment.objects.filter(campaign_id__in=ids)
    enrollments._raw_delete(enrollments.db)
    codes = PromoCode.objects.filter(promotion=promotion)
    codes._raw_delete(codes.db)
    CampaignStep.objects.filter(campaign_id__in=ids).delete()
    campaigns.delete()


def bench_backtest(months: int) -> None:
    """``backtest`` of a draft journey of each trigger over ``months`` months
    (target ≤ 30 s on 1M members / 5M visits), and of a promotion."""
    print(f"backtests over {months} months:")
    group, _ = PromotionGroup.objects.get_or_create(name=NAME)
    promotion, _ = Promotion.objects.get_or_create(
        name=NAME, defaults={"group": group, "status": "active", "code_required": True,
                             "effect": "percent_bill", "percent": Decimal("10")},
    )  # fmt: skip
    triggers = {
        Campaign.Trigger.VISIT: 7, Campaign.Trigger.NO_VISIT: 42,
        Campaign.Trigger.BIRTHDAY: 7, Campaign.Trigger.ANNIVERSARY: 0,
        Campaign.Trigger.POINTS_EXPIRING: 14, Campaign.Trigger.TIER_AT_RISK: 30,
        Campaign.Trigger.SIGNED_UP: 14,
    }  # fmt: skip
    for trigger, days in triggers.items():
        campaign = with_code_step(Campaign.objects.create(
            name=f"{NAME} backtest {trigger}", kind=Campaign.Kind.JOURNEY,
            status=Campaign.Status.DRAFT, trigger=trigger, trigger_days=days,
        ), promotion)  # fmt: skip
        try:
            started = time.perf_counter()
            result = backtest(campaign, months=months)
            seconds = time.perf_counter() - started
            total = result.as_table()[-1]
            print(f"  {seconds:6.2f} s  {trigger:<16} total: {' | '.join(total[1:])}")
        finally:
            CampaignStep.objects.filter(campaign=campaign).delete()
            campaign.delete()
    started = time.perf_counter()
    result = backtest(promotion, months=months)
    seconds = time.perf_counter() - started
    print(f"  {seconds:6.2f} s  promotion (10 % off with a code)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--send", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the send")
    parser.add_argument("--months", type=int, default=12, help="backtest months")
    parser.add_argument("--only", choices=["counts", "send", "backtest"])
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    db = connection.settings_dict["NAME"]
    if not str(db).startswith("regulars_bench") and connection.vendor == "postgresql":
        sys.exit(f"refusing to use {db}: the name must start with regulars_bench")
    print(f"{Member.objects.count():,} members on {connection.vendor} {db}")
    if args.only in (None, "counts"):
        bench_counts(args.repeat)
    if args.only in (None, "send"):
        bench_send(args.send, args.keep)
    if args.only in (None, "backtest"):
        bench_backtest(args.months)


if __name__ == "__main__":
    main()
