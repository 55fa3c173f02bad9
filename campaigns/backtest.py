"""Backtest: replay the last N months of history under a draft campaign.

Before launch, ``campaign_backtest(campaign, months=N)`` answers: how many
members would the campaign have taken on, how often, what would it have cost
(messages, points, money), month by month. ``promotion_backtest``
(``campaigns.backtest_promotions``) does the same for a promotion.

Set-based: each trigger is one query over the history — its occurrences as
rows ``(member, local date)``, built with window functions where the forward
logic needs the next visit — wrapped in one statement that applies the
audience, the "one running enrollment" rule and groups by month in the
program's time zone. A handful of queries whatever the data size; never a
loop over days or members.

The window is the N calendar months that end with the current one (the last
one up to today). The forward run (``campaigns.triggers``) fires:

* no_visit N: on the local date of a paid visit + N, when no paid visit came
  before that day (the next visit's local date ≥ visit date + N);
* visit: on the day of each paid visit (of the categories, if any);
* signed_up N: on the registration date + N, when no paid visit came before;
* birthday N: once a year, N days before the birthday (29 February: the 28th
  in a common year);
* anniversary: on each anniversary of the first visit, from the next year on;
* points_expiring N: N days before a lot expires;
* tier_at_risk: not replayable (the history of tiers is not kept);
* a one-off: once, the audience as it is today.

**One running enrollment per member and campaign.** An enrollment runs from
its trigger until its last step, ``S`` = the sum of the steps' delays, days
later. A new occurrence while it runs is turned away, but the look-back
(``lookback_days`` = ``B``) finds it again on the next days: it is lost only
if the earlier enrollment still runs when its look-back ends, i.e. when its
date ``d`` and the member's previous occurrence ``p`` have ``d − p ≤ S − B + 1``.
With ``exit_on_visit`` a visit ends the earlier enrollment first, so for the
visit and no-visit triggers (a new occurrence needs a new visit) nothing is
ever turned away. For a one-step journey with no delay nothing is either:
the backtest then equals the forward run over the same data.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Lead
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from campaigns.backtest_common import (
    Backtest,
    Month,
    _sqlite,
    add_days,
    as_date,
    days_between,
    local_date,
    month_end,
    month_of,
    run,
    sql_of,
    window_months,
)
from campaigns.journeys import CONSENT_CHANNELS, program_control_ids
from campaigns.models import Campaign, CampaignSettings, CampaignStep, Promotion
from campaigns.segments import definition_q
from members.models import Member, Visit, VisitLine
from rewards.models import PointLot
from rewards.selectors import day_start

Trigger = Campaign.Trigger
ZERO = Decimal("0.00")
WORK_MEM = "256MB"  # per sort or hash of the backtest's statements


# --- the campaign -------------------------------------------------------------


def audience_q(campaign: Campaign, today: date, steps: list[CampaignStep]) -> Q:
    """Active members in the segment as it evaluates today, with the first
    step's channel open by today's consent, outside the program's control."""
    q = Q(status=Member.Status.ACTIVE)
    if campaign.segment_id is not None:
        q &= definition_q(campaign.segment.definition, today)
    if steps:
        channels = steps[0].channel_list
        if any(channel not in CONSENT_CHANNELS for channel in channels):
            pass  # the in-app inbox needs no consent
        else:
            consent = Q(pk__in=[])
            for channel in channels:
                consent |= Q(**{f"consent_{channel}": True})
            q &= consent
    config = CampaignSettings.current()
    if config.program_control_percent:
        q &= ~Q(pk__in=program_control_ids(config))
    return q


def _occurrences(campaign: Campaign, n: int, start: date, today: date, now):
    """(SQL, params) of rows ``(mid, od)``: a member and the local date of an
    occurrence (maybe outside the window: the caller cuts), or None when the
    trigger is counted otherwise."""
    trigger = campaign.trigger
    paid = Visit.objects.filter(status=Visit.Status.PAID, member__isnull=False)
    if trigger == Trigger.NO_VISIT:
        # Each visit with the member's next one (over all later visits).
        rows = (
            paid.filter(paid_at__gte=day_start(start - timedelta(days=n)))
            .annotate(
                d=local_date("paid_at"),
                nd=Window(
                    Lead(local_date("paid_at")),
                    partition_by=[F("member_id")],
                    order_by=[F("paid_at").asc(), F("pk").asc()],
                ),
            )
            .values("member_id", "d", "nd")
        )
        sql, params = sql_of(rows)
        od = add_days("b.d", n)
        return (
            f"SELECT b.member_id AS mid, {od} AS od FROM ({sql}) b "
            f"WHERE b.nd IS NULL OR b.nd >= {od}",
            params,
        )
    if trigger == Trigger.VISIT:
        visits = paid.filter(paid_at__gte=day_start(start), paid_at__lte=now)
        categories = list(campaign.trigger_categories.values_list("pk", flat=True))
        if categories:
            visits = visits.filter(
                pk__in=VisitLine.objects.filter(
                    service__category_id__in=categories
                ).values("visit_id")
            )
        sql, params = sql_of(
            visits.annotate(d=local_date("paid_at")).values("member_id", "d")
        )
        return f"SELECT b.member_id AS mid, b.d AS od FROM ({sql}) b", params
    if trigger == Trigger.SIGNED_UP:
        rows = Member.objects.filter(
            registered_at__gte=day_start(start - timedelta(days=n))
        ).annotate(d=local_date("registered_at"), fd=local_date("first_visit_at"))
        sql, params = sql_of(rows.values("d", "fd", mid=F("pk")))
        od = add_days("b.d", n)
        return (
            f"SELECT b.mid, {od} AS od FROM ({sql}) b "
            f"WHERE b.fd IS NULL OR b.fd >= {od}",
            params,
        )
    if trigger == Trigger.POINTS_EXPIRING:
        # Lots that still held points when they expired (or still hold them):
        # a lot spent in full long before never got its reminder.
        lots = (
            PointLot.objects.filter(
                expires_on__gte=start + timedelta(days=n),
                expires_on__lte=today + timedelta(days=n),
            )
            .annotate(left=F("remaining") + F("expired"))
            .filter(left__gt=0)
            .values("member_id", "expires_on")
            .distinct()
        )
        sql, params = sql_of(lots)
        return (
            f"SELECT b.member_id AS mid, {add_days('b.expires_on', -n)} AS od "
            f"FROM ({sql}) b",
            params,
        )
    return None


def _yearly_q(campaign: Campaign, first: date, last: date, n: int) -> Q:
    """Members whose birthday (or first-visit anniversary) occurrence falls in
    ``[first, last]``: one ``Q`` on month and day, never a loop over members."""
    spans: dict[tuple[int, int], list[int]] = {}
    day = first
    while day <= last:
        target = day + timedelta(days=n)  # the birthday N days later
        if campaign.trigger == Trigger.ANNIVERSARY:
            target = day
        spans.setdefault((target.year, target.month), []).append(target.day)
        if (
            campaign.trigger == Trigger.BIRTHDAY
            and target.month == 2
            and target.day == 28
            and not calendar.isleap(target.year)
        ):
            spans[(target.year, 2)].append(29)
        day += timedelta(days=1)
    q = Q(pk__in=[])
    for (year, month), days in spans.items():
        if campaign.trigger == Trigger.ANNIVERSARY:
            q |= Q(
                first_visit_at__month=month,
                first_visit_at__day__gte=min(days),
                first_visit_at__day__lte=max(days),
                first_visit_at__lt=day_start(date(year, 1, 1)),
            )
        else:
            q |= Q(birthday__month=month, birthday__day__gte=min(days),
                   birthday__day__lte=max(days))  # fmt: skip
    return q


def _counted(
    campaign, steps, firsts, today, now, audience, need_avg: bool
) -> tuple[dict, int]:
    """{month: [occurrences, members, Σ the members' average visit]} and the
    distinct members over the window."""
    n = campaign.trigger_days or 0
    start = firsts[0]
    table: dict[date, list] = {}
    if campaign.trigger in (Trigger.BIRTHDAY, Trigger.ANNIVERSARY):
        members = Member.objects.filter(audience)
        avg = _average_visit(start, now)
        marks = {}
        for i, first in enumerate(firsts):
            marks[f"m{i}"] = _yearly_q(campaign, first, min(month_end(first), today), n)
        counts = members.aggregate(
            **{k: Count("pk", filter=q) for k, q in marks.items()},
            **{f"a{k}": _sum_avg(avg, q) for k, q in marks.items() if need_avg},
            all=Count("pk", filter=Q(*marks.values(), _connector=Q.OR)),
        )
        for i, first in enumerate(firsts):
            c = counts[f"m{i}"]
            table[first] = [c, c, Decimal(str(counts.get(f"am{i}") or 0))]
        return table, counts["all"]
    occurrences = _occurrences(campaign, n, start, today, now)
    sql, params = occurrences
    aud_sql, aud_params = sql_of(Member.objects.filter(audience).values("pk"))
    avg_sql, avg_params = sql_of(
        Visit.objects.filter(
            status=Visit.Status.PAID, paid_at__gte=day_start(start), paid_at__lte=now
        )
        .values("member_id")
        .annotate(a=Avg("total"))
        .values("member_id", "a")
    )
    join = f"LEFT JOIN ({avg_sql}) a ON a.member_id = o.mid"
    average = "a.a"
    if not need_avg:
        join, average, avg_params = "", "CAST(NULL AS NUMERIC)", []
    span = sum(step.delay_days for step in steps)
    back = max(campaign.lookback_days, 1)
    turned_away = span - back + 1
    if campaign.exit_on_visit and campaign.trigger in (Trigger.VISIT, Trigger.NO_VISIT):
        turned_away = 0
    keep = "TRUE" if not _sqlite() else "1"
    lagged = "SELECT occ.mid, occ.od FROM occ"
    if turned_away >= 1:
        lagged = (
            "SELECT occ.mid, occ.od, LAG(occ.od) OVER "
            "(PARTITION BY occ.mid ORDER BY occ.od) AS prev FROM occ"
        )
        keep = f"(o.prev IS NULL OR {days_between('o.od', 'o.prev')} > {turned_away})"
    statement = (
        f"WITH occ AS (SELECT s.mid, s.od FROM ({sql}) s "
        f"WHERE s.od >= %s AND s.od <= %s AND s.mid IN ({aud_sql})), "
        f"lagged AS ({lagged}), "
        f"kept AS (SELECT o.mid, o.od, {average} AS avg FROM lagged o "
        f"{join} WHERE {keep}) "
        f"SELECT {month_of('kept.od')} AS m, COUNT(*), COUNT(DISTINCT kept.mid), "
        "SUM(kept.avg) FROM kept GROUP BY 1 "
        "UNION ALL SELECT NULL, COUNT(*), COUNT(DISTINCT kept.mid), SUM(kept.avg) "
        "FROM kept"
    )
    rows = run(statement, [*params, start, today, *aud_params, *avg_params])
    distinct = 0
    for month, occ, members, avg in rows:
        if month is None:
            distinct = members
        else:
            table[as_date(month)] = [occ, members, Decimal(str(avg or 0))]
    return table, distinct


def _average_visit(start: date, now):
    return (
        Visit.objects.filter(
            member_id=OuterRef("pk"),
            status=Visit.Status.PAID,
            paid_at__gte=day_start(start),
            paid_at__lte=now,
        )
        .values("member_id")
        .annotate(a=Avg("total"))
        .values("a")[:1]
    )


def _sum_avg(avg, q: Q):
    return Sum(Subquery(avg, output_field=DecimalField()), filter=q)


def campaign_backtest(
    campaign: Campaign, *, months: int, today: date | None = None
) -> Backtest:
    """Replay the last ``months`` months under ``campaign`` (a draft or not):
    see the module's docstring for what each trigger counts."""
    started = time.monotonic()
    now = timezone.now()
    today = today or timezone.localdate(now)
    if today != timezone.localdate(now):
        now = day_start(today + timedelta(days=1)) - timedelta(microseconds=1)
    firsts = window_months(months, today)
    steps = list(
        campaign.steps.select_related("promotion", "reward").order_by("position")
    )
    config = CampaignSettings.current()
    notes = [
        _("The audience is the segment as it is today, not as it was then."),
        _(
            "Consent is the members' consent today on the first step's channels; "
            "the weekly frequency cap is not replayed."
        ),  # fmt: skip
        _("%(month)s counts up to today.")
        % {"month": capfirst(date_format(firsts[-1], "YEAR_MONTH_FORMAT"))},
    ]
    costs = _step_costs(steps, config, notes)
    table: dict[date, list] = {}
    distinct = 0
    audience = audience_q(campaign, today, steps)
    if campaign.kind == Campaign.Kind.ONE_OFF or not campaign.trigger:
        size = Member.objects.filter(audience).count()
        firsts = [firsts[-1]]
        table[firsts[0]] = [size, size, ZERO]
        distinct = size
        notes.append(_("A one-off: the audience's size today, sent once."))
    elif campaign.trigger == Trigger.TIER_AT_RISK:
        firsts = []
        notes.append(
            _("“Tier at risk” cannot be replayed: the history of tiers is not kept.")
        )
    else:
        need_avg = bool(costs.percent_of_visit)
        table, distinct = _counted(
            campaign, steps, firsts, today, now, audience, need_avg
        )
        if campaign.trigger == Trigger.POINTS_EXPIRING:
            notes.append(
                _("Points expiring: lots that still held points at their expiry "
                  "(left or expired), one occurrence per expiry date.")
            )  # fmt: skip
    if not steps:
        notes.append(_("The campaign has no steps: nothing would be sent."))
    span = sum(step.delay_days for step in steps)
    if span:
        notes.append(
            _("One running enrollment per member: an occurrence within %(days)d "
              "days of the member's previous one, after the catch-up days, is "
              "counted once.") % {"days": span}
        )  # fmt: skip
    result = Backtest(rows=[], total=Month(month=date.min), notes=notes)
    share = 1 - Decimal(campaign.control_percent) / 100
    if campaign.control_percent:
        notes.append(
            _("Messages and costs are for the treated %(share)s%% of occurrences; "
              "the control group gets nothing.") % {"share": f"{share * 100:.0f}"}
        )  # fmt: skip
    for first in firsts:
        occ, members, avg_sum = table.get(first, [0, 0, ZERO])
        result.rows.append(_priced(first, occ, members, avg_sum, share, costs))
    total = result.total
    for row in result.rows:
        total.occurrences += row.occurrences
        total.messages += row.messages
        total.points += row.points
        total.money += row.money
    total.members = distinct
    result.seconds = time.monotonic() - started
    return result


@dataclass
class _Costs:
    messages: int = 0  # per treated occurrence
    points: int = 0
    money: Decimal = ZERO  # fixed money per treated occurrence
    percent_of_visit: Decimal = ZERO  # of the member's average visit


def _step_costs(steps, config, notes) -> _Costs:
    costs = _Costs(messages=len(steps))
    costs.money += config.message_cost * len(steps)
    for step in steps:
        if step.offer == CampaignStep.Offer.POINTS and step.points:
            costs.points += step.points
            costs.money += step.points * config.point_value
        elif step.offer == CampaignStep.Offer.VOUCHER and step.reward_id:
            costs.money += step.reward.points_cost * config.point_value
            notes.append(_("Vouchers are costed as if every one were used."))
        elif step.offer == CampaignStep.Offer.PROMOTION and step.promotion_id:
            promotion = step.promotion
            percent = (
                Promotion.Effect.PERCENT_LINES,
                Promotion.Effect.PERCENT_BILL,
            )
            if promotion.effect in percent and promotion.percent:
                costs.percent_of_visit += promotion.percent
                notes.append(
                    _("Promo codes: %(percent)s%% of the member's average paid "
                      "visit in the window, as if every code were used.")
                    % {"percent": number_format(promotion.percent.normalize())}
                )  # fmt: skip
            else:
                notes.append(
                    _("The promotion “%(name)s” is not a percent discount: its "
                      "codes are not costed.") % {"name": promotion.name}
                )  # fmt: skip
    if len(steps) > 1:
        notes.append(
            _("Every step is counted as sent; a visit may end a journey earlier.")
        )
    return costs


def _priced(first, occ, members, avg_sum, share, costs: _Costs) -> Month:
    treated = Decimal(occ) * share
    money = treated * costs.money
    if costs.percent_of_visit and occ:
        money += avg_sum * share * costs.percent_of_visit / 100
    return Month(
        month=first,
        occurrences=occ,
        members=members,
        messages=int((treated * costs.messages).to_integral_value()),
        points=int((treated * costs.points).to_integral_value()),
        money=money.quantize(Decimal("0.01")),
    )


def backtest(obj, *, months: int, today: date | None = None) -> Backtest:
    """A campaign's or a promotion's backtest."""
    if isinstance(obj, Promotion):
        from campaigns.backtest_promotions import promotion_backtest

        return promotion_backtest(obj, months=months, today=today)
    return campaign_backtest(obj, months=months, today=today)
