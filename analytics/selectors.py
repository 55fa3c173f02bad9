"""The analytics' read side: the KPI list and the core dashboards, each
``Filters -> Dashboard`` (``analytics.tables``), read from the aggregates on
``reading()``.

Additive figures (visits, money, new members and their retention, points,
lots) come from ``DailyStat``; the cohorts from ``CohortStat``. Figures that
count distinct members over a window — repeat purchase rate, active and lost
members, churn — come from ``SpanStat`` (``analytics.selectors_spans``),
which falls back to the reference computations of ``analytics.kpis`` where
its rows cannot answer.
"""

from __future__ import annotations

from dataclasses import replace

from analytics import kpis
from analytics import selectors_spans as spans
from analytics.selectors_base import daily, previous, totals
from analytics.selectors_members import dashboard_members, dashboard_retention
from analytics.selectors_repeat import dashboard_points, dashboard_repeat
from analytics.tables import Filters, Kpi

__all__ = [
    "dashboard_members",
    "dashboard_points",
    "dashboard_repeat",
    "dashboard_retention",
    "kpi_list",
    "kpis_from_aggregates",
]


def kpis_from_aggregates(f: Filters) -> dict[str, Kpi]:
    """The defined KPIs of one period, by key (no ``previous``)."""
    t = totals(daily(f))
    return {
        kpis.RPR.key: kpis.rate_kpi(kpis.RPR, *spans.rpr_parts(f)),
        kpis.RETENTION_30D.key: kpis.rate_kpi(
            kpis.RETENTION_30D, t["new_retained"], t["new_members"]
        ),
        kpis.AVG_CHECK.key: kpis.rate_kpi(
            kpis.AVG_CHECK, t["member_money"], t["member_visits"]
        ),
        kpis.AVG_CHECK_ANON.key: kpis.rate_kpi(
            kpis.AVG_CHECK_ANON, t["anon_money"], t["anon_visits"]
        ),
        kpis.ACTIVE.key: kpis.kpi(kpis.ACTIVE, spans.active_count(f)),
        kpis.LOST.key: kpis.kpi(kpis.LOST, spans.lost_count(f)),
        kpis.BREAKAGE.key: kpis.rate_kpi(
            kpis.BREAKAGE, t["lots_expired"], t["lots_issued"]
        ),
    }


def kpi_list(f: Filters) -> list[Kpi]:
    """The defined KPIs (``analytics.kpis.DEFINED``, in that order) of the
    period, each with its value for the previous period of equal length."""
    now, before = kpis_from_aggregates(f), kpis_from_aggregates(previous(f))
    return [with_previous(now[d.key], before[d.key]) for d in kpis.DEFINED]


def with_previous(k: Kpi, before: Kpi) -> Kpi:
    return replace(k, previous=before.value)
