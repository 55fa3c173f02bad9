"""What active promotions cost a quote: ``checkout_quote`` with 0 and with 50.

    DATABASE_URL=postgres://…/regulars_bench_promo .venv/bin/python \\
        bench/promotions.py [--quotes 2000] [--promotions 50]

On a fresh database (its name must start with "regulars_bench"; it is migrated
and filled here): the demo catalogue, 200 members, then N quotes of 1–3 random
services for random members, in one process, first with no promotion, then
with ``--promotions`` active ones of every effect and most conditions (happy
hours, categories, combos, bundles, the cheapest free, minimum bills, bonus
points, multipliers; none with a code, a limit or a budget — those read one
row more each, only when present). Prints quotes/s, µs per quote and the SQL
queries per quote of each phase, and the overhead per promotion. The issue's
target: with 50 active promotions the checkout's hot-path targets still hold,
i.e. the same queries and a small share of the quote's time.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from campaigns.models import Promotion, PromotionGroup  # noqa: E402
from members.demo import catalogue_ensure  # noqa: E402
from members.models import Location, Member, Service, ServiceCategory  # noqa: E402
from members.services import VisitLineInput  # noqa: E402
from rewards.services import checkout_commit, checkout_quote  # noqa: E402


def setup(members: int) -> None:
    db = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql" and not db.startswith("regulars_bench"):
        sys.exit(f"refusing to use {db}: the name must start with regulars_bench")
    call_command("migrate", verbosity=0)
    catalogue_ensure(russian=False)
    have = Member.objects.count()
    Member.objects.bulk_create(
        Member(phone=f"+7916555{n:04d}", first_name="Bench")
        for n in range(have, members)
    )


def promotions_make(count: int) -> None:
    rnd = random.Random(7)
    categories = list(ServiceCategory.objects.all())
    services = list(Service.objects.filter(is_active=True))
    groups = [
        PromotionGroup.objects.get_or_create(
            name=f"Bench {mode}", defaults={"mode": mode, "order": n}
        )[0]
        for n, mode in enumerate(("best", "stack", "first"))
    ]
    effects = [
        ("percent_lines", {"percent": Decimal("15")}),
        ("percent_bill", {"percent": Decimal("5")}),
        ("fixed_bill", {"amount": Decimal("300")}),
        ("bundle_price", {"amount": Decimal("7000"), "bundle_quantity": 3}),
        ("cheapest_free", {"min_lines": 3}),
        ("bonus_points", {"points": 100}),
        ("points_multiplier", {"multiplier": Decimal("2")}),
    ]
    for n in range(count):
        effect, fields = effects[n % len(effects)]
        promotion = Promotion.objects.create(
            name=f"Bench promotion {n}", group=groups[n % 3], status="active",
            effect=effect, priority=n, **fields,
            weekdays="12345" if n % 4 == 0 else "",
            time_from=clock(10) if n % 5 == 0 else None,
            time_to=clock(22) if n % 5 == 0 else None,
            min_bill=Decimal("2000") if n % 6 == 0 else None,
        )  # fmt: skip
        if n % 2:
            promotion.categories.add(rnd.choice(categories))
        if n % 7 == 3:
            promotion.combo_categories.add(*rnd.sample(categories, 2))
        if n % 9 == 4:
            promotion.excluded_services.add(rnd.choice(services))


def phase(label: str, quotes: int, rnd: random.Random) -> float:
    location = Location.objects.first()
    services = list(Service.objects.filter(is_active=True))
    ids = list(Member.objects.values_list("pk", flat=True))
    members = {
        pk: Member.objects.get(pk=pk) for pk in rnd.sample(ids, min(50, len(ids)))
    }
    baskets = [
        (rnd.choice(list(members.values())),
         [VisitLineInput(service=s) for s in rnd.sample(services, rnd.randint(1, 3))])
        for _ in range(quotes)
    ]  # fmt: skip
    for member, lines in baskets[:20]:  # warm: the process caches
        checkout_quote(member=member, location=location, lines=lines)
    with CaptureQueriesContext(connection) as ctx:
        member, lines = baskets[0]
        checkout_quote(member=member, location=location, lines=lines)
    per_quote_queries = len(ctx.captured_queries)
    start = time.perf_counter()
    cpu = time.process_time()
    for member, lines in baskets:
        checkout_quote(member=member, location=location, lines=lines)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    print(
        f"{label}: {quotes / wall:,.0f} quotes/s in one process, "
        f"{wall / quotes * 1e6:,.0f} µs per quote ({cpu / quotes * 1e6:,.0f} µs CPU "
        f"of this process), {per_quote_queries} queries per quote"
    )
    return wall / quotes


def commits(label: str, count: int, rnd: random.Random) -> float:
    """``checkout_commit`` of ``count`` visits (each its own transaction):
    what recording the promotions applied costs (redemptions, usage rows,
    bonus points)."""
    location = Location.objects.first()
    services = list(Service.objects.filter(is_active=True))
    members = list(Member.objects.order_by("pk")[:200])
    baskets = [
        (rnd.choice(members),
         [VisitLineInput(service=s) for s in rnd.sample(services, rnd.randint(1, 3))])
        for _ in range(count + 1)
    ]  # fmt: skip
    member, lines = baskets[0]
    with CaptureQueriesContext(connection) as ctx:
        result = checkout_commit(member=member, location=location, lines=lines)
    applied = sum(1 for b in result.quote.benefits if b.kind == "promotion")
    start = time.perf_counter()
    cpu = time.process_time()
    for member, lines in baskets[1:]:
        checkout_commit(member=member, location=location, lines=lines)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    print(
        f"{label}: {count / wall:,.0f} visits/s in one process, "
        f"{wall / count * 1e3:,.1f} ms per visit ({cpu / count * 1e3:,.1f} ms CPU), "
        f"{len(ctx.captured_queries)} queries for a visit with {applied} promotions"
    )
    return wall / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=2000)
    parser.add_argument("--promotions", type=int, default=50)
    parser.add_argument(
        "--commits", type=int, default=0,
        help="also record this many visits with and without the promotions",
    )  # fmt: skip
    args = parser.parse_args()
    setup(200)
    Promotion.objects.all().delete()
    rnd = random.Random(1)
    base = phase("no promotion", args.quotes, rnd)
    if args.commits:
        commits("no promotion", args.commits, random.Random(2))
    promotions_make(args.promotions)
    rnd = random.Random(1)
    loaded = phase(f"{args.promotions} active promotions", args.quotes, rnd)
    if args.commits:
        commits(f"{args.promotions} active promotions", args.commits, random.Random(2))
    print(
        f"==> {args.promotions} promotions add {(loaded - base) * 1e6:,.0f} µs to a "
        f"quote ({(loaded / base - 1) * 100:+.0f} %), "
        f"{(loaded - base) / args.promotions * 1e6:,.1f} µs per promotion"
    )


if __name__ == "__main__":
    main()
