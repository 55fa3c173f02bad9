"""Campaign results from the database: each arm's counts and revenue, and what
the campaign cost, aggregated set-based for ``campaigns.stats``.

Intent to treat: every enrollment with a send of the campaign's first step is
counted in its arm — a real message or a ghost (the control), or none when no
channel was open — and its exposure starts when that send was written. The
attribution window is (start, start + ``attribution_days``]: a member
*converted* with at least one paid visit in it, and their revenue is what
those visits paid in money, less what was refunded (0 without a visit).

Everything is a handful of aggregate queries whatever the number of members
(and of campaigns: :func:`arms_for` groups by campaign and arm), so a list of
campaigns can show their ROI and the program page sums them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns import stats
from campaigns.journeys import program_control_ids
from campaigns.models import (
    Arm,
    Campaign,
    CampaignSend,
    CampaignSettings,
    CampaignStep,
    Redemption,
)
from members.models import Member, Message, Visit
from members.money import money
from rewards.models import Voucher

MONEY_SUM = DecimalField(max_digits=20, decimal_places=2)
SQUARES_SUM = DecimalField(max_digits=30, decimal_places=4)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Costs:
    """What a campaign cost, in money: the discounts its personal codes gave
    (net of reversals and partial refunds), the bonus points and the used
    vouchers at the program's point value, and the messages sent."""

    discounts: Decimal = ZERO
    points: Decimal = ZERO
    vouchers: Decimal = ZERO
    messages: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return money(self.discounts + self.points + self.vouchers + self.messages)


def _window_end(days: set[int]):
    """start + attribution_days, one ``When`` per distinct number of days (plain
    datetime + interval arithmetic, the same on SQLite and PostgreSQL)."""
    start = F("created_at")
    if len(days) == 1:
        return start + Value(timedelta(days=next(iter(days))))
    return Case(
        *(
            When(campaign__attribution_days=d, then=start + Value(timedelta(days=d)))
            for d in sorted(days)
        ),
        output_field=DateTimeField(),
    )


def _exposures(campaigns: list[Campaign], now: datetime):
    """One row per counted enrollment: its first-step send (ghost or real)."""
    first_step = (
        CampaignStep.objects.filter(campaign_id=OuterRef("campaign_id"))
        .order_by("position")
        .values("pk")[:1]
    )
    return CampaignSend.objects.filter(
        campaign_id__in=[c.pk for c in campaigns],
        step_id=Subquery(first_step),
        created_at__lte=now,
    ).annotate(window_end=_window_end({c.attribution_days for c in campaigns}))


def _arm_rows(campaigns: list[Campaign], now: datetime) -> dict:
    in_window = Visit.objects.filter(
        member_id=OuterRef("member_id"),
        status=Visit.Status.PAID,
        paid_at__gt=OuterRef("created_at"),
        paid_at__lte=OuterRef("window_end"),
    ).filter(paid_at__lte=now)
    revenue = (
        in_window.order_by()
        .values("member_id")
        .annotate(s=Sum(F("amount_paid") - F("amount_refunded")))
        .values("s")
    )
    used = CampaignSend.objects.filter(enrollment_id=OuterRef("enrollment_id")).filter(
        Q(code__uses__gt=0) | Q(voucher__status=Voucher.Status.USED)
    )
    rows = (
        _exposures(campaigns, now)
        .annotate(
            converted=Exists(in_window),
            redeemed=Exists(used),
            revenue=Coalesce(
                Subquery(revenue, output_field=MONEY_SUM),
                Value(ZERO),
                output_field=MONEY_SUM,
            ),
        )
        .order_by()
        .values("campaign_id", "arm")
        .annotate(
            n=Count("pk"),
            n_converted=Count("pk", filter=Q(converted=True)),
            n_redeemed=Count("pk", filter=Q(redeemed=True)),
            total=Coalesce(Sum("revenue", output_field=MONEY_SUM), Value(ZERO)),
            squares=Coalesce(
                Sum(F("revenue") * F("revenue"), output_field=SQUARES_SUM),
                Value(ZERO),
                output_field=SQUARES_SUM,
            ),
        )
    )
    return {(r["campaign_id"], r["arm"]): r for r in rows}


def _send_rows(campaigns: list[Campaign], now: datetime) -> dict:
    rows = (
        CampaignSend.objects.filter(
            campaign_id__in=[c.pk for c in campaigns], created_at__lte=now
        )
        .order_by()
        .values("campaign_id", "arm")
        .annotate(
            sent=Count("pk", filter=Q(message__isnull=False)),
            delivered=Count("pk", filter=Q(message__status=Message.Status.SENT)),
            points=Coalesce(Sum("points"), 0),
            voucher_points=Coalesce(
                Sum(
                    "voucher__reward__points_cost",
                    filter=Q(voucher__status=Voucher.Status.USED),
                ),
                0,
            ),
        )
    )
    return {(r["campaign_id"], r["arm"]): r for r in rows}


def _discounts(campaigns: list[Campaign], now: datetime) -> dict[int, Decimal]:
    """Σ money off (net of partial refunds) of the live redemptions of each
    campaign's personal codes."""
    code_campaign = CampaignSend.objects.filter(code_id=OuterRef("code_id")).values(
        "campaign_id"
    )[:1]
    rows = (
        Redemption.objects.filter(
            code_id__in=CampaignSend.objects.filter(
                campaign_id__in=[c.pk for c in campaigns], code__isnull=False
            ).values("code_id"),
            reversed_at__isnull=True,
            created_at__lte=now,
        )
        .annotate(campaign_id=Subquery(code_campaign))
        .order_by()
        .values("campaign_id")
        .annotate(
            s=Sum(F("money") - F("money_refunded"), output_field=MONEY_SUM),
        )
    )
    return {r["campaign_id"]: r["s"] or ZERO for r in rows}


def arms_for(
    campaigns, *, now: datetime | None = None, config: CampaignSettings | None = None
) -> dict[int, tuple[stats.Arm, stats.Arm, Costs]]:
    """(treatment, control, costs) of each campaign, by id: four queries
    (three when ``config`` is given) whatever the number of campaigns and
    members."""
    campaigns = list(campaigns)
    if not campaigns:
        return {}
    now = now or timezone.now()
    config = config or CampaignSettings.current()
    arms, sends = _arm_rows(campaigns, now), _send_rows(campaigns, now)
    discounts = _discounts(campaigns, now)
    point_value = config.point_value
    out = {}
    for campaign in campaigns:
        made = {}
        for arm in (Arm.TREATMENT, Arm.CONTROL):
            row = arms.get((campaign.pk, arm), {})
            send = sends.get((campaign.pk, arm), {})
            made[arm] = stats.Arm(
                targeted=row.get("n", 0),
                sent=send.get("sent", 0),
                delivered=send.get("delivered", 0),
                redeemed=row.get("n_redeemed", 0),
                converted=row.get("n_converted", 0),
                revenue_total=Decimal(row.get("total") or 0),
                revenue_sum_squares=Decimal(row.get("squares") or 0),
            )
        treated = sends.get((campaign.pk, Arm.TREATMENT), {})
        costs = Costs(
            discounts=money(discounts.get(campaign.pk, ZERO)),
            points=money(treated.get("points", 0) * point_value),
            vouchers=money(treated.get("voucher_points", 0) * point_value),
            messages=money(treated.get("sent", 0) * config.message_cost),
        )
        out[campaign.pk] = (made[Arm.TREATMENT], made[Arm.CONTROL], costs)
    return out


def campaign_arms(
    campaign: Campaign,
    *,
    now: datetime | None = None,
    config: CampaignSettings | None = None,
) -> tuple[stats.Arm, stats.Arm, Costs]:
    """The campaign's treatment and control arms and its costs, as of ``now``."""
    return arms_for([campaign], now=now, config=config)[campaign.pk]


def result_of(
    treatment: stats.Arm,
    control: stats.Arm,
    costs: Costs,
    config: CampaignSettings,
) -> stats.CampaignResult:
    return stats.campaign_result(
        treatment,
        control,
        cost_money=costs.total,
        gross_margin=config.gross_margin / 100,
    )


def campaign_result_for(
    campaign: Campaign, *, now: datetime | None = None
) -> stats.CampaignResult:
    config = CampaignSettings.current()
    return result_of(*campaign_arms(campaign, now=now, config=config), config)


def results_for(campaigns, *, now=None, config=None) -> dict[int, stats.CampaignResult]:
    """Each campaign's result by id (campaigns nobody was enrolled in too)."""
    config = config or CampaignSettings.current()
    return {
        pk: result_of(*arms, config)
        for pk, arms in arms_for(campaigns, now=now, config=config).items()
    }


def program_results(
    *, now: datetime | None = None
) -> tuple[list[tuple[Campaign, stats.CampaignResult]], stats.ProgramResult]:
    """Every campaign that enrolled someone, with its result, and their sum."""
    campaigns = list(
        Campaign.objects.filter(enrollments__isnull=False)
        .distinct()
        .select_related("segment")
        .order_by("-created_at", "-pk")
    )
    results = results_for(campaigns, now=now)
    rows = [(c, results[c.pk]) for c in campaigns]
    return rows, stats.program_result([r for _c, r in rows])


ARM_FIELDS = [
    "targeted", "sent", "delivered", "redeemed", "converted", "conversion_rate",
    "conversion_low", "conversion_high", "revenue_total", "revenue_per_member",
]  # fmt: skip
RESULT_FIELDS = [
    "uplift", "uplift_low", "uplift_high", "revenue_diff", "revenue_diff_low",
    "revenue_diff_high", "incremental_revenue", "incremental_profit", "roi",
]  # fmt: skip


def csv_rows(result: stats.CampaignResult, costs: Costs) -> list[list[str]]:
    """The results page's numbers for a spreadsheet: a metric a row, its
    treatment and control values (one value for the comparisons), plain
    numbers with a dot; empty where there is nothing to compute."""

    def plain(value) -> str:
        return "" if value is None else str(value)

    t, c = result.treatment, result.control
    rows = [["metric", "treatment", "control"]]
    rows += [[f, plain(getattr(t, f)), plain(getattr(c, f))] for f in ARM_FIELDS]
    rows += [[f, plain(getattr(result, f)), ""] for f in RESULT_FIELDS]
    rows += [
        [f"cost_{f}", plain(getattr(costs, f)), ""]
        for f in ("discounts", "points", "vouchers", "messages")
    ]
    rows.append(["cost", plain(result.cost), ""])
    rows.append(["enough_data", "yes" if result.enough_data else "no", ""])
    return rows


# --- the program-wide control group --------------------------------------------------


@dataclass(frozen=True)
class ProgramHoldout:
    """Members every campaign reaches against the program-wide control group
    (no campaign ever takes them on), over the last ``days`` days."""

    days: int
    percent: Decimal
    result: stats.CampaignResult


def program_holdout(*, now=None, days: int = 90, config=None) -> ProgramHoldout | None:
    """The program as a whole: paid visits and revenue per member of the
    active members outside the program's control group against those in it,
    over the last ``days`` days (two aggregate queries). None when the
    program has no control group."""
    config = config or CampaignSettings.current()
    if not config.program_control_percent:
        return None
    now = now or timezone.now()
    since = now - timedelta(days=days)
    revenue = Coalesce(
        Subquery(
            Visit.objects.filter(
                member_id=OuterRef("pk"), status=Visit.Status.PAID,
                paid_at__gt=since, paid_at__lte=now,
            )
            .order_by()
            .values("member_id")
            .annotate(total=Sum(F("amount_paid") - F("amount_refunded")))
            .values("total")[:1],
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
        Value(Decimal("0")),
    )  # fmt: skip
    control_ids = program_control_ids(config)
    arms = {}
    for name, members in (
        ("treatment", Member.objects.exclude(pk__in=control_ids)),
        ("control", Member.objects.filter(pk__in=control_ids)),
    ):
        row = (
            members.filter(status=Member.Status.ACTIVE)
            .annotate(revenue=revenue)
            .aggregate(
                n=Count("pk"),
                converted=Count("pk", filter=Q(revenue__gt=0)),
                total=Coalesce(Sum("revenue"), Value(Decimal("0"))),
                squares=Coalesce(Sum(F("revenue") * F("revenue")), Value(Decimal("0"))),
            )
        )
        arms[name] = stats.Arm(
            targeted=row["n"], converted=row["converted"],
            revenue_total=row["total"], revenue_sum_squares=row["squares"],
        )  # fmt: skip
    result = stats.campaign_result(
        arms["treatment"], arms["control"], cost_money=Decimal("0"),
        gross_margin=config.gross_margin / 100,
    )  # fmt: skip
    return ProgramHoldout(days, config.program_control_percent, result)
