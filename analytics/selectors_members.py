"""The Members and Retention dashboards."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.db.models import Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics import kpis
from analytics import selectors_spans as spans
from analytics.aggregates import COHORT_MONTHS, month_add
from analytics.db import reading
from analytics.kpis import Definition, kpi, rate_kpi
from analytics.models import CohortStat
from analytics.selectors_base import (
    by,
    col,
    daily,
    location_names,
    month_end,
    months,
    previous,
    tier_names,
    tiers_in_order,
    totals,
)
from analytics.tables import Dashboard, Filters, Kpi, Table

TOTAL = Definition(
    "total_members",
    gettext_lazy("Members"),
    gettext_lazy(
        "Members whose first-ever paid visit is on or before the end of the "
        "period (filtered by the location and tier of that first visit)."
    ),
    "count",
)
NEW = Definition(
    "new_members",
    gettext_lazy("New members"),
    gettext_lazy("Members whose first-ever paid visit falls in the period."),
    "count",
)
# Churn by month is counted on the raw visits, one month at a time: at most
# this many months (the last ones of the period).
CHURN_MONTHS = 6


def _member_counts(f: Filters) -> dict[str, Kpi]:
    total = totals(daily(f, all_time=True))["new_members"]
    new = totals(daily(f))["new_members"]
    return {
        "total": kpi(TOTAL, total),
        "active": kpi(kpis.ACTIVE, spans.active_count(f)),
        "new": kpi(NEW, new),
        "lost": kpi(kpis.LOST, spans.lost_count(f)),
    }


def _breakdown(f: Filters, key: str) -> Table:
    """Members by tier or by location: all to date, new, active, visits, money."""
    field = "tier_id" if key == "tier" else "location_id"
    names = tier_names() if key == "tier" else location_names()
    all_time, period = by(daily(f, all_time=True), field), by(daily(f), field)
    # Active members by tier would need each window visit's tier (three
    # index probes a visit): by location only.
    active = spans.active_by_location(f) if key == "location" else {}
    order = (
        tiers_in_order()
        if key == "tier"
        else sorted(all_time, key=lambda i: (i is None, i or 0))
    )
    rows = []
    for ident in order:
        now = period.get(ident, {})
        row = {
            key: names.get(ident, str(ident)),
            "members": all_time.get(ident, {}).get("new_members") or 0,
            "new_members": now.get("new_members") or 0,
            "active": active.get(ident, 0),
            "visits": now.get("member_visits") or 0,
            "money": now.get("member_money") or 0,
        }
        # Rows of points alone (no visit, no location) are not members'.
        if row["members"] or row["active"] or row["visits"]:
            rows.append(row)
    title = _("Members by tier") if key == "tier" else _("Members by location")
    label = _("Tier") if key == "tier" else _("Location")
    return Table(
        key=f"members_by_{key}",
        title=title,
        columns=[
            col(key, label, "text"),
            col("members", _("Members")),
            col("new_members", _("New members")),
            *([col("active", _("Active members"))] if key == "location" else []),
            col("visits", _("Members' paid visits")),
            col("money", _("Members' money"), "money"),
        ],
        rows=rows,
        chart="bar",
        x=key,
        series=["members", "new_members", *(["active"] if key == "location" else [])],
        note=_(
            "Members and new members by the tier and location of their first "
            "paid visit; active members by the locations of their visits in "
            "the last %(days)s days (a member can count in more than one row)."
        )
        % {"days": settings.ANALYTICS_ACTIVE_DAYS},
    )


def _new_by_month(f: Filters) -> Table:
    per_month = by(daily(f), "month")
    return Table(
        key="new_members_by_month",
        title=_("New members by month"),
        columns=[
            col("month", _("Month"), "date"),
            col("new_members", _("New members")),
            col("visits", _("Members' paid visits")),
        ],
        rows=[
            {
                "month": m,
                "new_members": per_month.get(m, {}).get("new_members") or 0,
                "visits": per_month.get(m, {}).get("member_visits") or 0,
            }
            for m in months(f)
        ],
        chart="line",
        x="month",
        series=["new_members"],
    )


def dashboard_members(f: Filters) -> Dashboard:
    """Total, active, new and lost members (against the previous period), by
    tier and by location."""
    now, before = _member_counts(f), _member_counts(previous(f))
    cards = [
        replace(now[k], previous=before[k].value)
        for k in ("total", "active", "new", "lost")
    ]
    return Dashboard(
        key="members",
        title=_("Members"),
        filters=f,
        kpis=cards,
        tables=[_breakdown(f, "tier"), _breakdown(f, "location"), _new_by_month(f)],
        notes=_notes(f),
    )


def _notes(f: Filters) -> list[str]:
    notes = [
        _(
            "Active and lost are counted at the end of the period; the "
            "previous figure is at the end of the period before."
        )
    ]
    if f.specialist_id is not None:
        notes.append(_("The specialist filter does not apply to this dashboard."))
    return notes + spans.notes()


# --- Retention ---------------------------------------------------------------


def _cohorts(f: Filters) -> Table:
    qs = CohortStat.objects.using(reading()).filter(
        cohort__gte=f.date_from.replace(day=1), cohort__lte=f.date_to
    )
    if f.location_id is not None:
        qs = qs.filter(location_id=f.location_id)
    if f.tier_id is not None:
        qs = qs.filter(tier_id=f.tier_id)
    cells: dict = {}
    for row in qs.values("cohort", "offset").annotate(n=Sum("members")).order_by():
        cells.setdefault(row["cohort"], {})[row["offset"]] = row["n"]
    last_month = f.date_to.replace(day=1)
    rows = []
    for cohort in sorted(cells):
        size = cells[cohort].get(0, 0)
        row = {"cohort": cohort, "size": size}
        for k in range(COHORT_MONTHS + 1):
            seen = month_add(cohort, k) <= last_month
            row[f"m{k}"] = (
                kpis.ratio(cells[cohort].get(k, 0), size) if seen and size else None
            )
        rows.append(row)
    offsets = [f"m{k}" for k in range(COHORT_MONTHS + 1)]
    return Table(
        key="cohorts",
        title=_("Cohorts by month of first visit"),
        columns=[
            col("cohort", _("Cohort"), "date"),
            col("size", _("Members")),
            *[col(f"m{k}", _("Month %(n)s") % {"n": k}, "percent") for k in range(13)],
        ],
        rows=rows,
        chart="heatmap",
        x="cohort",
        series=offsets,
        note=_(
            "The share of each cohort (members whose first-ever paid visit was "
            "in that month, at the filtered location and tier) with a paid "
            "visit 0–12 months later."
        ),
    )


def _retention_by_month(f: Filters) -> Table:
    per_month = by(daily(f), "month")
    rows = []
    for m in months(f):
        got = per_month.get(m, {})
        new, kept = got.get("new_members") or 0, got.get("new_retained") or 0
        rows.append(
            {"month": m, "new": new, "retained": kept, "rate": kpis.ratio(kept, new)}
        )
    return Table(
        key="retention_by_month",
        title=_("New-member 30-day retention by month"),
        columns=[
            col("month", _("Month"), "date"),
            col("new", _("New members")),
            col("retained", _("Retained within 30 days")),
            col("rate", _("Retention"), "percent"),
        ],
        rows=rows,
        chart="line",
        x="month",
        series=["rate"],
    )


def _churn_by_month(f: Filters) -> Table:
    rows = []
    shown = months(f)[-CHURN_MONTHS:]
    parts = [
        Filters(max(m, f.date_from), min(month_end(m), f.date_to), f.location_id)
        for m in shown
    ]
    if f.tier_id is not None:
        parts = [replace(part, tier_id=f.tier_id) for part in parts]
    for m, (churned, base) in zip(shown, spans.churn_by_month(f, parts), strict=True):
        rows.append(
            {
                "month": m,
                "churned": churned,
                "base": base,
                "rate": kpis.ratio(churned, base),
            }
        )
    return Table(
        key="churn_by_month",
        title=_("Churn by month"),
        columns=[
            col("month", _("Month"), "date"),
            col("churned", _("Became lost")),
            col("base", _("Not lost at the start")),
            col("rate", _("Churn rate"), "percent"),
        ],
        rows=rows,
        chart="line",
        x="month",
        series=["rate"],
        note=str(kpis.definition_text(kpis.CHURN)),
    )


def _retention_cards(f: Filters) -> list[Kpi]:
    t = totals(daily(f))
    churned, base = spans.churn_parts(f)
    return [
        rate_kpi(kpis.RETENTION_30D, t["new_retained"], t["new_members"]),
        kpi(NEW, t["new_members"]),
        rate_kpi(kpis.CHURN, churned, base),
    ]


def dashboard_retention(f: Filters) -> Dashboard:
    """New-member 30-day retention, the cohort heatmap and churn by month."""
    now, before = _retention_cards(f), _retention_cards(previous(f))
    cards = [replace(a, previous=b.value) for a, b in zip(now, before, strict=True)]
    notes = []
    if f.specialist_id is not None:
        notes.append(_("The specialist filter does not apply to this dashboard."))
    notes.append(
        _("Churn by month covers at most the last %(n)s months of the period.")
        % {"n": CHURN_MONTHS}
    )
    notes += spans.notes()
    return Dashboard(
        key="retention",
        title=_("Retention"),
        filters=f,
        kpis=cards,
        tables=[_cohorts(f), _retention_by_month(f), _churn_by_month(f)],
        notes=notes,
    )
