"""A heavy member against a new one: do the hot paths cost the same? (issue #11)

    DATABASE_URL=postgres://…/regulars_bench .venv/bin/python bench/heavy_member.py \\
        [--entries 5000] [--lots 1000] [--reps 100] [--build-only]

"A member with 5,000 ledger entries and 1,000 open lots: same latency as a new
member." In the database of ``DATABASE_URL`` (its name must start with
``regulars_bench``; it needs the program's settings, services and locations,
e.g. ``bench/seed_demo.sh`` + ``points_backfill``) the script

1. builds, or finds and completes, **the heavy member** ("Heavy Bench",
   phone ``+7 999 000-11-11`` or the next free one), only through the services — the ledger
   is hash-chained and append-only, so no row is written by hand:
   - ``--lots`` bonus lots (``points_bonus``, 10 points each, living 10 years:
     spending draws the soonest-expiring lots first, so these stay open);
   - then paid visits (``checkout_commit``, one 60-minute classic massage,
     ``paid_at`` spread over the ~3 years since the member "joined"), each
     paying with the points the previous one earned: two ledger entries per
     visit (earn + spend), and the visits' own lots drained again — until the
     ledger holds ``--entries`` entries.
   Every step is its own transaction with a deterministic key (the bonus's
   ledger key, the visit's booking id), so an interrupted build resumes where
   it stopped; a second run finds the member complete and only times it.
   The timed commits of a run open lots of their own: each run starts by
   taking them back to ``--lots`` open lots with one manager adjustment
   (``points_adjust``, soonest-expiring lots first), so every run times the
   same shape (the ledger itself only grows, ~200 entries a run).
   (~4,000 service calls for the defaults: a few minutes; a progress bar shows.)
2. registers **a new member** (a fresh phone) with one welcome bonus of 2,000
   points, so the operations paying with points have points to pay; every
   ``--new-every`` rounds (10) another one takes its place, since each round
   adds two visits: the "new" member never has more than 20 visits, ~20 lots.
3. times, for both members, interleaved, ``--reps`` repetitions (after 3
   unmeasured warm-up rounds) of
   - ``checkout_quote`` of a 1–2 line basket; the same paying with points;
   - ``checkout_commit`` of it (a new booking id each time); the same paying
     with points (draws lots);
   - ``GET /api/v1/me/points`` through Django's test client (the member app's
     hottest screen) and the selector behind it (``points_overview``);
   - ``GET /api/v1/me/transactions`` (the first page of the history);
   and prints p50/p95 per operation and member, the heavy/new ratio, and the
   SQL statements of each operation for both (one extra, untimed round).

The timed commits add visits to both members: the heavy member only gets
heavier from run to run. Run it on a copy or the bench database, never on
production data.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
# Production-like request handling: no query log kept in memory, no throttle
# in the way of hundreds of requests from one member.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("API_THROTTLE_MEMBER", "100000000/min")
# WhiteNoise warns when collectstatic has not run; the API needs no static files.
warnings.filterwarnings("ignore", message="No directory at")
# Progress bars: live on a terminal, a line every 30 s in a log file.
BAR = {"mininterval": 0.5 if sys.stderr.isatty() else 30}

HEAVY_PHONE = "+79990001111"
HEAVY_SERVICE = "classic-60"
BONUS_POINTS = 10
BONUS_LIFETIME_DAYS = 3650
NEW_MEMBER_BONUS = 2000
WARMUP_ROUNDS = 3
OPS = (
    "quote",
    "quote_points",
    "commit",
    "commit_points",
    "api_me_points",
    "points_overview",
    "api_me_transactions",
)


def check_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    name = urlparse(url).path.lstrip("/")
    if not url.startswith("postgres") or not name.startswith("regulars_bench"):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL benchmark database whose name starts "
            "with regulars_bench (this script writes to it)."
        )


check_database()

import django  # noqa: E402

django.setup()

from django.core.exceptions import ValidationError  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from tqdm import tqdm  # noqa: E402

from members import access  # noqa: E402
from members.models import Location, Member, Service, Visit  # noqa: E402
from members.services import VisitLineInput, member_register  # noqa: E402
from rewards import selectors  # noqa: E402
from rewards.models import LedgerEntry, PointLot, Wallet  # noqa: E402
from rewards.services import (  # noqa: E402
    checkout_commit,
    checkout_quote,
    points_adjust,
    points_bonus,
)


def points_cap(services: list[Service]) -> int:
    """Points a bill of ``services`` surely accepts: the max share of it after
    the largest tier discount (20 %), in points."""
    settings = selectors.program_settings()
    gross = float(sum(s.base_price for s in services))
    share = float(settings.max_points_share) / 100
    return int(gross * 0.8 * share / float(settings.money_per_point))


def wallet_figures(member: Member) -> dict:
    wallet = Wallet.objects.filter(pk=member.pk).select_related("tier").first()
    today = timezone.localdate()
    return {
        "entries": wallet.seq if wallet else 0,
        "open_lots": PointLot.objects.filter(
            member=member, remaining__gt=0, expires_on__gt=today
        ).count(),
        "available": wallet.available if wallet else 0,
        "visits": Visit.objects.filter(member=member).count(),
        "tier": wallet.tier.name if wallet and wallet.tier else "—",
    }


# --- Building the members -----------------------------------------------------


def heavy_member(location: Location) -> Member:
    """The bench's heavy member: found by phone and name, else registered.

    A demo member may hold the first phone (demo phones are spread over all
    +79…): then the next one is tried.
    """
    for n in range(10):
        phone = f"{HEAVY_PHONE[:-1]}{(int(HEAVY_PHONE[-1]) + n) % 10}"
        member = Member.objects.filter(phone=phone).first()
        if member is not None:
            if (member.first_name, member.last_name) == ("Heavy", "Bench"):
                return member
            continue
        try:
            return member_register(
                phone=phone,
                first_name="Heavy",
                last_name="Bench",
                registration_location=location,
                registered_at=timezone.now() - timedelta(days=1100),
            )
        except ValidationError:
            continue  # e.g. a phone once used by an erased member
    sys.exit("No free phone for the heavy member.")


def build_heavy(member: Member, location: Location, *, entries: int, lots: int):
    """Bring the heavy member to ``lots`` bonus lots and ``entries`` entries."""
    prefix = f"bench-heavy:{member.pk}:lot:"
    have = LedgerEntry.objects.filter(
        member=member, idempotency_key__startswith=prefix
    ).count()
    if have < lots:
        for i in tqdm(
            range(have, lots),
            initial=have,
            total=lots,
            desc="bonus lots",
            unit="lot",
            **BAR,
        ):
            points_bonus(
                member=member,
                points=BONUS_POINTS,
                key=f"{prefix}{i}",
                reason="bonus",
                lifetime_days=BONUS_LIFETIME_DAYS,
            )
    service = Service.objects.get(code=HEAVY_SERVICE)
    cap = points_cap([service])
    booking = f"bench-heavy-{member.pk}-"
    done = Visit.objects.filter(
        member=member, source=Visit.Source.POS, external_id__startswith=booking
    ).count()
    seq = wallet_figures(member)["entries"]
    if seq >= entries:
        trim_lots(member, lots)
        return
    start = member.registered_at + timedelta(days=1)
    step = timedelta(hours=11)  # 2,000 visits over ~2.5 years
    carry = 0  # points earned by the last visit, spent by the next
    with tqdm(
        initial=seq, total=entries, desc="ledger entries", unit="entry", **BAR
    ) as bar:
        while seq < entries:
            paid_at = min(start + step * done, timezone.now() - timedelta(minutes=1))
            kwargs = {
                "member": member,
                "location": location,
                "lines": [VisitLineInput(service=service)],
                "external_id": f"{booking}{done}",
                "source": Visit.Source.POS,
                "paid_at": paid_at,
            }
            use = min(carry, cap)
            try:
                result = checkout_commit(**kwargs, points_to_use=use)
            except ValidationError:
                # the bill or the balance refused the points: pay in money
                use = 0
                result = checkout_commit(**kwargs)
            carry = carry - use + result.points_earned
            done += 1
            now = wallet_figures(member)["entries"]
            bar.update(now - seq)
            seq = now
    trim_lots(member, lots)


def trim_lots(member: Member, lots: int) -> None:
    """Back to ``lots`` open lots: the timed commits of each run open more.

    One manager adjustment (``points_adjust``) takes the points of the
    soonest-expiring lots — exactly those the ledger draws first — so every
    run times a member of the same shape; the bonus lots, living 10 years,
    are the ones left.
    """
    today = timezone.localdate()
    spendable = PointLot.objects.filter(
        member=member, remaining__gt=0, expires_on__gt=today, pending_until=None
    ).order_by("expires_on", "id")
    extra = spendable.count() - lots
    if extra <= 0:
        return
    points = sum(spendable.values_list("remaining", flat=True)[:extra])
    points_adjust(
        member=member,
        points=-points,
        reason=f"Benchmark: back to {lots} open lots",
        actor=None,
    )


def new_member(location: Location) -> Member:
    rnd = random.Random()
    for _ in range(20):
        phone = f"+7999{rnd.randint(2000000, 9999999)}"
        try:
            member = member_register(
                phone=phone,
                first_name="New",
                last_name="Bench",
                registration_location=location,
            )
        except ValidationError:
            continue  # the phone is taken: another one
        points_bonus(
            member=member,
            points=NEW_MEMBER_BONUS,
            key=f"bench-new:{member.pk}:welcome",
            reason="bonus",
        )
        return member
    sys.exit("Could not find a free phone number for the new member.")


# --- Timing -----------------------------------------------------------------------


class Runner:
    """The operations of one member; ``op(name)`` runs one, timed by the caller."""

    def __init__(self, label: str, member: Member, location: Location, run: str):
        self.label, self.location, self.run = label, location, run
        self.client = Client(HTTP_HOST="localhost")
        self.use(member)
        services = list(
            Service.objects.filter(is_active=True, excluded_from_discounts=False)
        )
        self.rnd = random.Random(f"{run}:{label}")
        self.baskets = [self.rnd.sample(services, self.rnd.randint(1, 2)) for _ in range(50)]  # fmt: skip
        self.n = 0
        self.timings: dict[str, list[float]] = {op: [] for op in OPS}
        self.queries: dict[str, int] = {}

    def use(self, member: Member) -> None:
        """Run the operations as ``member`` from now on (with its own token)."""
        self.member = member
        token = access.token_issue(member=member, device="bench-heavy")[1]
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def basket(self) -> tuple[list[VisitLineInput], int]:
        services = self.baskets[self.n % len(self.baskets)]
        available = Wallet.objects.filter(pk=self.member.pk).values_list(
            "available", flat=True
        )[0]
        points = max(0, min(20, available, points_cap(services)))
        return [VisitLineInput(service=s) for s in services], points

    def op(self, name: str, lines, points: int) -> None:
        common = {"member": self.member, "location": self.location, "lines": lines}
        if name == "quote":
            checkout_quote(**common)
        elif name == "quote_points":
            checkout_quote(**common, points_to_use=points)
        elif name in ("commit", "commit_points"):
            self.n += 1
            checkout_commit(
                **common,
                points_to_use=points if name == "commit_points" else 0,
                external_id=f"bench-heavy-t-{self.run}-{self.label}-{self.n}",
                source=Visit.Source.POS,
            )
        elif name == "api_me_points":
            response = self.client.get("/api/v1/me/points", **self.auth)
            if response.status_code != 200:
                sys.exit(f"me/points: {response.status_code} {response.content[:300]!r}")  # fmt: skip
        elif name == "points_overview":
            selectors.points_overview(member=self.member)
        elif name == "api_me_transactions":
            response = self.client.get("/api/v1/me/transactions", **self.auth)
            if response.status_code != 200:
                sys.exit(f"me/transactions: {response.status_code}")

    def round(self, *, measure: bool, count_queries: bool = False) -> None:
        for name in OPS:
            lines, points = self.basket()
            if count_queries:
                with CaptureQueriesContext(connection) as ctx:
                    self.op(name, lines, points)
                self.queries[name] = len(ctx.captured_queries)
                continue
            started = time.perf_counter()
            self.op(name, lines, points)
            elapsed = time.perf_counter() - started
            if measure:
                self.timings[name].append(elapsed * 1000)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(new: Runner, heavy: Runner) -> str:
    rows = [
        (
            "operation",
            "new p50",
            "new p95",
            "heavy p50",
            "heavy p95",
            "heavy/new p50",
            "heavy/new p95",
            "SQL new/heavy",
        )
    ]
    for name in OPS:
        a, b = new.timings[name], heavy.timings[name]
        rows.append(
            (
                name,
                f"{pct(a, 0.5):.1f} ms",
                f"{pct(a, 0.95):.1f} ms",
                f"{pct(b, 0.5):.1f} ms",
                f"{pct(b, 0.95):.1f} ms",
                f"{pct(b, 0.5) / pct(a, 0.5):.2f}",
                f"{pct(b, 0.95) / pct(a, 0.95):.2f}",
                f"{new.queries.get(name, '?')}/{heavy.queries.get(name, '?')}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for i, row in enumerate(rows):
        out.append(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--lots", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument(
        "--new-every",
        type=int,
        default=10,
        help="rounds after which the new member is replaced by a fresh one "
        "(each round adds 2 visits: a new member stays new)",
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build the heavy member, time nothing"
    )
    args = parser.parse_args()
    location = Location.objects.filter(is_active=True).order_by("pk").first()
    if location is None or not Service.objects.filter(code=HEAVY_SERVICE).exists():
        sys.exit("No demo program here: run bench/seed_demo.sh and points_backfill.")

    heavy = heavy_member(location)
    started = time.monotonic()
    build_heavy(heavy, location, entries=args.entries, lots=args.lots)
    figures = wallet_figures(heavy)
    print(
        f"heavy member #{heavy.pk}: {figures['entries']:,} ledger entries, "
        f"{figures['open_lots']:,} open lots, {figures['visits']:,} visits, "
        f"{figures['available']:,} points available, tier {figures['tier']} "
        f"(built or checked in {time.monotonic() - started:.0f} s)"
    )
    if figures["open_lots"] < args.lots:
        print(f"!! fewer open lots than {args.lots}: some were spent or expired")
    if args.build_only:
        return

    run = f"{int(time.time())}"
    fresh = new_member(location)
    new = Runner("new", fresh, location, run)
    big = Runner("heavy", heavy, location, run)
    print(
        f"new member #{fresh.pk}: 1 ledger entry ({NEW_MEMBER_BONUS} welcome "
        f"points), replaced by another new one every {args.new_every} rounds; "
        f"{Member.objects.count():,} members in the database; "
        f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)"
    )
    for _ in range(WARMUP_ROUNDS):
        new.round(measure=False)
        big.round(measure=False)
    new.use(new_member(location))
    for i in tqdm(range(args.reps), desc="timing", unit="round", **BAR):
        if i and i % args.new_every == 0:
            new.use(new_member(location))
        new.round(measure=True)
        big.round(measure=True)
    new.use(new_member(location))
    new.round(measure=False, count_queries=True)
    big.round(measure=False, count_queries=True)
    after = wallet_figures(heavy)
    print(
        f"\n{args.reps} rounds per member, interleaved; load average now "
        f"{os.getloadavg()[0]:.2f}. Heavy member now: {after['entries']:,} "
        f"entries, {after['open_lots']:,} open lots, {after['visits']:,} visits, "
        f"tier {after['tier']}."
    )
    print(report(new, big))


if __name__ == "__main__":
    main()
