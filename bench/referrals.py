"""Referrals at scale: what a friend's first visit costs, and the reads over many referrals.

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python bench/referrals.py \\
        [--referrals 100000] [--referrers 2000] [--visits 300]

On the scaled demo database (``bench/seed_demo.sh`` then ``manage.py
points_backfill``):

1. Writes, single client, one transaction each, commit included:
   ``checkout_commit`` for members who joined without a code (the visit flow's
   referral reaction must cost nothing there) against the first visit of a friend
   who signed up with a code (qualification, both bonuses, notices). Reports
   median and p95 per call and the SQL queries of each.
2. Reads over ``--referrals`` referrals of ``--referrers`` referrers (bulk
   inserted once, the bench's own rows, marked by the code prefix "BENCH"): the
   member API's ``me/referrals`` selectors for a referrer with many invites,
   the monthly-cap count, the referrer summary's first admin page (default order
   and sorted by rewarded), and the referral list filtered by status. Median of 5.

The friends it signs up get phones in +7 999 777 xxxx; each run uses new ones.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Timed as production runs: DEBUG on would wrap every statement in the query
# log (+27 % Python function calls per checkout_commit).
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from members import services as member_services  # noqa: E402
from members.models import Location, Member, Service, Visit  # noqa: E402
from members.services import VisitLineInput  # noqa: E402
from referrals import selectors  # noqa: E402
from referrals.models import Referral, ReferralCode  # noqa: E402
from referrals.services import referral_code_for  # noqa: E402
from rewards.services.checkout import checkout_commit  # noqa: E402

Status = Referral.Status
TOP_INVITES = 1000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def timed(fn, repeat: int = 5) -> tuple[float, int]:
    """Median ms of ``fn`` over ``repeat`` runs, and its query count."""
    times = []
    queries = 0
    for _ in range(repeat):
        connection.queries_log.clear()  # a full log makes the capture read 0
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        queries = len(ctx.captured_queries)
    return statistics.median(times), queries


def seed_referrals(count: int, referrers: int) -> None:
    """Bench rows: ``count`` referrals of ``referrers`` members, mixed statuses."""
    if ReferralCode.objects.filter(code__startswith="BENCH").exists():
        print("bench referrals already there (--reseed makes them again)")
        return
    ids = list(
        Member.objects.filter(referral__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[: count + referrers]
    )
    inviters, friends = ids[:referrers], ids[referrers : referrers + count]
    ReferralCode.objects.bulk_create(
        ReferralCode(member_id=pk, code=f"BENCH{n:06d}")
        for n, pk in enumerate(inviters)
    )
    now = timezone.now()
    rng = random.Random(5)
    statuses = [
        (Status.REWARDED, 50),
        (Status.REGISTERED, 25),
        (Status.ANNULLED, 5),
        (Status.REJECTED, 15),
        (Status.HELD, 5),
    ]
    population = [s for s, w in statuses for _ in range(w)]
    rows = []
    for n, friend in enumerate(friends):
        status = rng.choice(population)
        # One champion with TOP_INVITES friends (18 months at the cap would be
        # 180 rewarded); the others share the rest evenly at random.
        inviter = inviters[0] if n < TOP_INVITES else rng.choice(inviters[1:])
        registered = now - timezone.timedelta(days=rng.randint(0, 540))
        rewarded = status in (Status.REWARDED, Status.ANNULLED)
        rows.append(
            Referral(
                referrer_id=inviter,
                referee_id=friend,
                code="BENCH",
                channel="app",
                status=status,
                reason="bench",
                registered_at=registered,
                rewarded_at=registered + timezone.timedelta(days=7)
                if rewarded
                else None,
                referrer_points=500 if rewarded else 0,
                friend_points=500 if rewarded else 0,
            )
        )
        if len(rows) >= 10_000:
            Referral.objects.bulk_create(rows)
            rows = []
    Referral.objects.bulk_create(rows)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ANALYZE referrals_referral")


def bench_writes(visits: int) -> None:
    location = Location.objects.filter(is_active=True).order_by("pk").first()
    service = (
        Service.objects.filter(is_active=True, excluded_from_discounts=False)
        .order_by("pk")
        .first()
    )
    lines = [VisitLineInput(service=service)]
    run = int(time.time())
    plain = list(
        Member.objects.filter(
            status=Member.Status.ACTIVE, signup_referral_code="", visits_count__gt=0
        ).order_by("?")[:visits]
    )
    referrer = (
        Member.objects.filter(status=Member.Status.ACTIVE, visits_count__gt=3)
        .order_by("pk")
        .first()
    )
    code = referral_code_for(member=referrer).code
    # One referrer signing up hundreds of friends in seconds is exactly what the
    # velocity hold catches: off for the bench, which measures the payout.
    settings.REFERRAL_HOLD_SIGNUPS = 0
    friends = []
    base = random.randint(0, 9000)
    with transaction.atomic():
        for i in range(visits):
            phone = f"+7999777{(base + i) % 10000:04d}"
            if Member.objects.filter(phone=phone).exists():
                continue
            friends.append(
                member_services.member_register(
                    phone=phone, first_name="Bench", referral_code=code, channel="pos"
                )
            )
    # The cap would reject most of them: raise it for the bench's referrer only
    # by using a generous cap for the run.
    program = selectors.program()
    cap_before = program.monthly_cap
    program.monthly_cap = 32000
    program.save()
    try:
        for label, members in (("no referral", plain), ("friend's 1st visit", friends)):
            times, queries = [], None
            for n, member in enumerate(members):
                connection.queries_log.clear()
                start = time.perf_counter()
                with CaptureQueriesContext(connection) as ctx:
                    checkout_commit(
                        member=member,
                        location=location,
                        lines=lines,
                        external_id=f"bench-ref-{run}-{label[:2]}-{n}",
                        source=Visit.Source.POS,
                    )
                times.append((time.perf_counter() - start) * 1000)
                queries = len(ctx.captured_queries)
            print(
                f"checkout_commit, {label}: n={len(times)} "
                f"p50 {statistics.median(times):.1f} ms, p95 {pct(times, 0.95):.1f} ms, "
                f"{queries} queries"
            )
    finally:
        program.monthly_cap = cap_before
        program.save()
    rewarded = Referral.objects.filter(
        referee__in=friends, status=Status.REWARDED
    ).count()
    print(f"  friends rewarded: {rewarded} of {len(friends)}")


def bench_reads() -> None:
    top = (
        Referral.objects.values("referrer_id")
        .order_by()
        .annotate(n=django.db.models.Count("id"))
        .order_by("-n")
        .first()
    )
    member = Member.objects.get(pk=top["referrer_id"])
    print(f"referrer with the most invites: {top['n']:,}")
    now = timezone.now()
    cases = [
        (
            "me/referrals: referrer_stats",
            lambda: selectors.referrer_stats(member=member),
        ),
        (
            "me/referrals: latest 50 invites",
            lambda: list(selectors.referrals_made(member=member)[:50]),
        ),
        (
            "monthly cap count",
            lambda: selectors.rewarded_in_month(referrer_id=member.pk, at=now),
        ),
        (
            "referrer summary, page 1 (newest members)",
            lambda: list(selectors.referrer_summary().order_by("-registered_at")[:100]),
        ),
        (
            "referrer summary, page 1 by rewarded",
            lambda: list(selectors.referrer_summary().order_by("-ref_rewarded")[:100]),
        ),
        (
            "referral list, held, page 1",
            lambda: list(
                Referral.objects.filter(status=Status.HELD)
                .select_related("referrer", "referee")
                .order_by("-registered_at", "-id")[:100]
            ),
        ),
    ]
    for label, fn in cases:
        ms, queries = timed(fn)
        print(f"{label}: {ms:.1f} ms ({queries} queries)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--referrers", type=int, default=2_000)
    parser.add_argument("--visits", type=int, default=300)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    if args.reseed:
        Referral.objects.filter(code="BENCH").delete()
        ReferralCode.objects.filter(code__startswith="BENCH").delete()
    print(
        f"{Member.objects.count():,} members, "
        f"{Visit.objects.count():,} visits ({connection.vendor})"
    )
    seed_referrals(args.referrals, args.referrers)
    print(f"{Referral.objects.count():,} referrals")
    bench_writes(args.visits)
    bench_reads()


if __name__ == "__main__":
    main()
