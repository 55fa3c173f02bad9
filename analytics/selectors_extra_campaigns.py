"""The campaigns dashboard: each campaign's holdout result and their sum, as
``campaigns.results`` measures them (intent to treat, the campaign's own
attribution window, ROI = incremental profit ÷ cost)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.db import reading
from analytics.selectors_extra_common import (
    LOCATION_NOTE,
    SPECIALIST_NOTE,
    TIER_NOTE,
    bounds,
)
from analytics.tables import Column, Dashboard, Filters, Kpi, Table
from campaigns import stats
from campaigns.models import Campaign
from campaigns.results import results_for


def _campaigns_of(f: Filters) -> list[Campaign]:
    start, end = bounds(f)
    return list(
        Campaign.objects.using(reading())
        .filter(enrollments__enrolled_at__gte=start, enrollments__enrolled_at__lt=end)
        .distinct()
        .order_by("-created_at", "-pk")
    )


def _row(campaign: Campaign, result: stats.CampaignResult) -> dict:
    treatment = result.treatment
    return {
        "campaign": campaign.name,
        "status": campaign.get_status_display(),
        "reach": treatment.targeted,
        "delivered": treatment.delivered,
        "control": result.control.targeted,
        "conversion": treatment.conversion_rate,
        "control_conversion": result.control.conversion_rate,
        "uplift": result.uplift,
        "incremental_revenue": result.incremental_revenue,
        "cost": result.cost,
        "roi": result.roi,
        "data": _("Enough data") if result.enough_data else str(result.reason),
    }


def dashboard_campaigns(f: Filters) -> Dashboard:
    """Reach, conversion, incremental revenue and ROI of the campaigns that
    enrolled members in the period, and of them all together."""
    campaigns = _campaigns_of(f)
    _start, end = bounds(f)
    now = min(timezone.now(), end)
    results = results_for(campaigns, now=now)
    pairs = [(c, results[c.pk]) for c in campaigns]
    total = stats.program_result([r for _c, r in pairs])

    kpis = [
        Kpi(
            key="campaigns_measured",
            label=_("Campaigns measured"),
            value=total.measured,
            numerator=total.measured,
            denominator=total.campaigns,
            definition=_(
                "Campaigns that enrolled members in the period and have both a "
                "targeted group and a control group to compare."
            ),
        ),
        Kpi(
            key="campaign_reach",
            label=_("Reach"),
            value=total.targeted,
            definition=_(
                "Members targeted by the measured campaigns (their control "
                "groups not counted)."
            ),
        ),
        Kpi(
            key="campaign_incremental_revenue",
            label=_("Incremental revenue"),
            value=total.incremental_revenue,
            unit="money",
            definition=_(
                "Σ over the measured campaigns of (revenue per targeted member − "
                "revenue per control member) × targeted members, in each "
                "campaign's attribution window."
            ),
        ),
        Kpi(
            key="campaign_cost",
            label=_("Campaign cost"),
            value=total.cost,
            unit="money",
            definition=_(
                "Discounts given, bonus points and used vouchers at the point "
                "value, and the messages sent, of the measured campaigns."
            ),
        ),
        Kpi(
            key="campaign_roi",
            label=_("ROI"),
            value=total.roi,
            unit="number",
            numerator=total.incremental_profit,
            denominator=total.cost,
            definition=_(
                "Incremental profit (incremental revenue × gross margin) ÷ cost "
                "of the measured campaigns; above 1 the campaigns pay for "
                "themselves, above 1.5 the program pays off."
            ),
        ),
    ]
    table = Table(
        key="campaigns",
        title=_("Campaigns"),
        columns=[
            Column("campaign", _("Campaign"), "text"),
            Column("status", _("Status"), "text"),
            Column("reach", _("Reach"), "count"),
            Column("delivered", _("Messages delivered"), "count"),
            Column("control", _("Control group"), "count"),
            Column("conversion", _("Conversion"), "percent"),
            Column("control_conversion", _("Control conversion"), "percent"),
            Column("uplift", _("Uplift"), "percent"),
            Column("incremental_revenue", _("Incremental revenue"), "money"),
            Column("cost", _("Cost"), "money"),
            Column("roi", _("ROI"), "number"),
            Column("data", _("Enough data?"), "text"),
        ],
        rows=[_row(c, r) for c, r in pairs],
        chart="bar",
        x="campaign",
        series=["incremental_revenue", "cost"],
        note=_(
            "Campaigns that enrolled members in the period. Each one's figures "
            "count all its enrollments up to the end of the period, as its "
            "results page does; a campaign without enough data yet says why."
        ),
    )
    notes = [str(LOCATION_NOTE), str(TIER_NOTE), str(SPECIALIST_NOTE)]
    if total.campaigns > total.conclusive:
        notes.append(
            _("%(n)s of %(total)s campaigns do not have enough data yet.")
            % {"n": total.campaigns - total.conclusive, "total": total.campaigns}
        )
    return Dashboard(
        key="campaigns",
        title=_("Campaigns"),
        filters=f,
        kpis=kpis,
        tables=[table],
        notes=notes,
    )
