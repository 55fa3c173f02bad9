"""A promotion's backtest: the paid visits of the last N months replayed under
a (draft) promotion, set-based.

One grouped pass over the window's visit lines gives per visit its matching
units, the base of the discount, the bill and the points it earned; the
visit's conditions (location, weekday and time of day in the program's time
zone, the schedule, the minimum bill, first or n-th visit, tier, segments)
filter it. Over that, window functions apply the limits in the order the
visits were paid: ``ROW_NUMBER`` per member (uses per member), over all
(``max_redemptions``) and running sums of the money and points against the
budgets — the last visit that fits gets what is left, as the checkout caps it.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import (
    Coalesce,
    ExtractHour,
    ExtractIsoWeekDay,
    ExtractMinute,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.backtest_common import (
    ZERO,
    Backtest,
    Month,
    as_date,
    local_date,
    month_of,
    run,
    sql_of,
    window_months,
)
from campaigns.models import CampaignSettings, Promotion
from campaigns.segments import definition_q
from members.models import Member, Visit, VisitLine
from rewards.selectors import day_start, program_settings

Effect = Promotion.Effect
DECIMAL = DecimalField(max_digits=14, decimal_places=4)


def _line_q(p: Promotion) -> Q:
    """The lines the promotion's services, categories and specialists match."""
    q = Q()
    services = list(p.services.values_list("pk", flat=True))
    categories = list(p.categories.values_list("pk", flat=True))
    if services or categories:
        q &= Q(service_id__in=services) | Q(service__category_id__in=categories)
    excluded = list(p.excluded_services.values_list("pk", flat=True))
    if excluded:
        q &= ~Q(service_id__in=excluded)
    excluded = list(p.excluded_categories.values_list("pk", flat=True))
    if excluded:
        q &= ~Q(service__category_id__in=excluded)
    specialists = list(p.specialists.values_list("pk", flat=True))
    if specialists:
        q &= Q(specialist_id__in=specialists)
    return q


def _visits(p: Promotion, start: date, today: date, now, notes: list[str]):
    """Per qualifying visit: vid, mid, at, d, units, base, bill, earn, tm."""
    settings = program_settings()
    lines = VisitLine.objects.filter(
        visit__status=Visit.Status.PAID,
        visit__member__isnull=False,
        visit__paid_at__gte=day_start(start),
        visit__paid_at__lte=now,
    )
    if p.starts_at:
        lines = lines.filter(visit__paid_at__gte=p.starts_at)
    if p.ends_at:
        lines = lines.filter(visit__paid_at__lt=p.ends_at)
    locations = list(p.locations.values_list("pk", flat=True))
    if locations:
        lines = lines.filter(visit__location_id__in=locations)
    tz = timezone.get_current_timezone()
    weekdays = sorted({int(d) for d in p.weekdays if d.isdigit()})
    if weekdays:
        lines = lines.annotate(
            wd=ExtractIsoWeekDay("visit__paid_at", tzinfo=tz)
        ).filter(wd__in=weekdays)
    if p.time_from or p.time_to:
        lines = lines.annotate(
            minute=ExtractHour("visit__paid_at", tzinfo=tz) * 60
            + ExtractMinute("visit__paid_at", tzinfo=tz)
        )
        if p.time_from:
            lines = lines.filter(minute__gte=p.time_from.hour * 60 + p.time_from.minute)
        if p.time_to:
            lines = lines.filter(minute__lt=p.time_to.hour * 60 + p.time_to.minute)
    if p.min_bill is not None:
        lines = lines.filter(visit__total__gte=p.min_bill)
    earlier = Visit.objects.filter(
        member_id=OuterRef("visit__member_id"),
        status=Visit.Status.PAID,
        paid_at__lt=OuterRef("visit__paid_at"),
    )
    if p.first_visit or p.nth_visit == 1:
        lines = lines.filter(~Exists(earlier))
    elif p.nth_visit:
        notes.append(_("“Visit number N” is not replayed: every visit counts."))
    tiers = list(p.tiers.values_list("pk", flat=True))
    if tiers:
        lines = lines.filter(visit__member__wallet__tier_id__in=tiers)
        notes.append(_("Tiers: the members' tiers today, not as they were then."))
    segments = list(p.segments.all())
    if segments:
        in_any = Q(pk__in=[])
        for segment in segments:
            in_any |= definition_q(segment.definition, today)
        lines = lines.filter(
            visit__member_id__in=Member.objects.filter(in_any).values("pk")
        )
        notes.append(_("Segments: as they evaluate today, not as they were then."))
    for category in p.combo_categories.values_list("pk", flat=True):
        lines = lines.filter(
            Exists(
                VisitLine.objects.filter(
                    visit_id=OuterRef("visit_id"), service__category_id=category
                )
            )
        )
    if p.untried_category_id or p.birthday_days is not None or p.recent_visits:
        notes.append(
            _("Conditions on an untried category, the birthday or recent visits "
              "are not replayed: they count as met.")
        )  # fmt: skip
    match = _line_q(p)
    discountable = Q(service__excluded_from_discounts=False)
    price = F("price")
    if p.percent_of == Promotion.PercentOf.LIST:
        price = Coalesce(F("list_price"), F("price"))
    amount = ExpressionWrapper(price * F("quantity"), output_field=DECIMAL)
    paid = ExpressionWrapper(F("price") * F("quantity"), output_field=DECIMAL)
    earns = Q() if settings.excluded_services_earn else discountable
    rate = Coalesce(
        F("service__category__earn_rate__rate"),
        Value(settings.earn_rate, output_field=DECIMAL),
        output_field=DECIMAL,
    )
    groups = {
        "vid": F("visit_id"),
        "mid": F("visit__member_id"),
        "at": F("visit__paid_at"),
        "d": local_date("visit__paid_at"),
    }
    if p.effect == Effect.POINTS_MULTIPLIER:
        groups["tm"] = Coalesce(
            F("visit__member__wallet__tier__points_multiplier"),
            Value(Decimal("1"), output_field=DECIMAL),
            output_field=DECIMAL,
        )
    aggregates = {
        "units": Sum("quantity", filter=match),
        "base": Sum(amount, filter=match & discountable),
        "bill": Sum(amount, filter=discountable),
        "earn": Sum(ExpressionWrapper(paid * rate, output_field=DECIMAL), filter=earns),
    }
    if p.effect != Effect.POINTS_MULTIPLIER:
        del aggregates["earn"]
    needed = max(p.min_lines or 1, 1)
    if p.effect == Effect.BUNDLE_PRICE:
        needed = max(needed, p.bundle_quantity or 0)
    rows = (
        lines.values(**groups).annotate(**aggregates).filter(units__gte=needed)
    ).order_by()
    return rows


def _floor(expr: str) -> str:
    if connection.vendor == "sqlite":
        return f"CAST({expr} AS INTEGER)"
    return f"CAST(FLOOR({expr}) AS INTEGER)"


def _least(a: str, b: str) -> str:
    return f"MIN({a}, {b})" if connection.vendor == "sqlite" else f"LEAST({a}, {b})"


def _effect(p: Promotion, notes: list[str]) -> tuple[str, str]:
    """SQL of the money and the points one visit ``v`` would get (the numbers
    are the promotion's own, written in as literals)."""
    percent = Decimal(p.percent or 0)
    amount = Decimal(p.amount or 0)
    effect = p.effect
    if effect == Effect.PERCENT_LINES:
        return f"COALESCE(v.base, 0) * {percent} / 100", "0"
    if effect == Effect.PERCENT_BILL:
        return f"COALESCE(v.bill, 0) * {percent} / 100", "0"
    if effect == Effect.FIXED_BILL:
        return _least(str(amount), "COALESCE(v.bill, 0)"), "0"
    if effect == Effect.BUNDLE_PRICE:
        notes.append(
            _("A bundle price is estimated: the matching services' price above "
              "the bundle's, once per visit.")
        )  # fmt: skip
        money = f"CASE WHEN COALESCE(v.base, 0) > {amount} THEN v.base - {amount} ELSE 0 END"
        return money, "0"
    if effect == Effect.CHEAPEST_FREE:
        notes.append(
            _("The cheapest service free is estimated as the matching services' "
              "average price, once per visit.")
        )  # fmt: skip
        return "COALESCE(v.base, 0) / v.units", "0"
    if effect == Effect.BONUS_POINTS:
        return "0", str(int(p.points or 0))
    if effect == Effect.POINTS_MULTIPLIER:
        notes.append(
            _("Extra points ≈ the visit's price × the earn rate × the tier's "
              "multiplier × (the multiplier − 1), the tier being today's.")
        )  # fmt: skip
        extra = Decimal(p.multiplier or 1) - 1
        return "0", _floor(f"COALESCE(v.earn, 0) / 100 * v.tm * {extra}")
    if effect == Effect.VOUCHER and p.reward_id:
        notes.append(_("Vouchers are costed as if every one were used."))
        value = p.reward.points_cost * CampaignSettings.current().point_value
        return str(Decimal(value)), "0"
    notes.append(_("This effect is not costed."))
    return "0", "0"


def promotion_backtest(
    promotion: Promotion, *, months: int, today: date | None = None
) -> Backtest:
    """Replay the paid visits of the last ``months`` months under
    ``promotion`` (whatever its status): see the module's docstring."""
    started = time.monotonic()
    now = timezone.now()
    today = today or timezone.localdate(now)
    if today != timezone.localdate(now):
        now = day_start(today + timedelta(days=1)) - timedelta(microseconds=1)
    firsts = window_months(months, today)
    notes = [
        _("%(month)s counts up to today.") % {"month": firsts[-1].strftime("%Y-%m")}
    ]
    if promotion.code_required:
        notes.append(
            _("The promotion needs a code: only members with one would get it; "
              "every qualifying visit is counted as if it had one.")
        )  # fmt: skip
    notes.append(
        _("Each promotion is replayed alone: the group's other promotions and "
          "the tier discount are not weighed against it.")
    )  # fmt: skip
    visits_sql, params = sql_of(_visits(promotion, firsts[0], today, now, notes))
    money, points = _effect(promotion, notes)
    order = "ORDER BY v.at, v.vid"
    running = f"OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    limit = ""
    if promotion.uses_per_member:
        limit = f"WHERE u.nm <= {int(promotion.uses_per_member)}"
    if promotion.uses_per_member_period:
        notes.append(_("Uses per member per period are not replayed."))
    keep, given, ends = ["1 = 1"], "r.money", []
    given_points = "r.points"
    if promotion.max_redemptions is not None:
        keep.append(f"r.n <= {int(promotion.max_redemptions)}")
        ends.append(("n", f"r.n = {int(promotion.max_redemptions)}"))
    if promotion.budget_money is not None:
        budget = Decimal(promotion.budget_money)
        keep.append(f"r.cum - r.money < {budget}")
        given = f"CASE WHEN r.cum > {budget} THEN {budget} - (r.cum - r.money) ELSE r.money END"
        ends.append(("money", f"r.cum >= {budget}"))
    if promotion.budget_points is not None:
        budget = int(promotion.budget_points)
        if promotion.effect == Effect.BONUS_POINTS:  # given whole
            keep.append(f"r.cump <= {budget}")
        else:
            keep.append(f"r.cump - r.points < {budget}")
            given_points = (
                f"CASE WHEN r.cump > {budget} THEN {budget} - (r.cump - r.points) "
                "ELSE r.points END"
            )
        ends.append(("points", f"r.cump >= {budget}"))
    statement = (
        f"WITH v AS (SELECT v.*, {money} AS money, {points} AS points "
        f"FROM ({visits_sql}) v), "
        "u AS (SELECT v.*, ROW_NUMBER() OVER (PARTITION BY v.mid ORDER BY v.at, "
        "v.vid) AS nm FROM v), "
        f"q AS (SELECT u.* FROM u {limit}), "
        f"r AS (SELECT v.*, ROW_NUMBER() OVER ({order}) AS n, "
        f"SUM(v.money) {running} AS cum, SUM(v.points) {running} AS cump "
        "FROM q v), "
        f"f AS (SELECT r.mid, r.d, {given} AS money, {given_points} AS points "
        f"FROM r WHERE {' AND '.join(keep)}) "
    )
    ran_out = ", ".join(f"MIN(CASE WHEN {cond} THEN r.d END)" for _kind, cond in ends)
    query = (
        f"{statement}SELECT {month_of('f.d')}, COUNT(*), COUNT(DISTINCT f.mid), "
        "SUM(f.money), SUM(f.points) FROM f GROUP BY 1 "
        "UNION ALL SELECT NULL, COUNT(*), COUNT(DISTINCT f.mid), SUM(f.money), "
        "SUM(f.points) FROM f"
    )
    all_params = params
    table: dict[date, Month] = {first: Month(month=first) for first in firsts}
    total = Month(month=date.min)
    for month, occ, members, money_sum, points_sum in run(query, all_params):
        row = (
            total
            if month is None
            else table.setdefault(as_date(month), Month(month=as_date(month)))
        )
        row.occurrences, row.members = occ, members
        row.money = Decimal(str(money_sum or 0)).quantize(Decimal("0.01"))
        row.points = int(points_sum or 0)
    if ends:
        (found,) = run(f"{statement}SELECT {ran_out} FROM r", all_params)
        words = {
            "n": _("The redemptions would have run out on %(date)s."),
            "money": _("The money budget would have run out on %(date)s."),
            "points": _("The points budget would have run out on %(date)s."),
        }
        for (kind, _cond), day in zip(ends, found, strict=True):
            if day is not None:
                notes.append(words[kind] % {"date": as_date(day).strftime("%d.%m.%Y")})
    result = Backtest(
        rows=[table[first] for first in sorted(table)], total=total, notes=notes
    )
    result.total.money = sum((r.money for r in result.rows), ZERO)
    result.seconds = time.monotonic() - started
    return result
