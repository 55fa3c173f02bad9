"""A campaign's results page (treatment against control, ``campaigns.results``)
and the program page summing all campaigns, with their CSV: the views of
``CampaignAdmin`` (``ResultsMixin``) and the numbers in words."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from campaigns import results
from campaigns.models import (
    Campaign,
    CampaignSettings,
)
from members.money import money_text


def _number(value, places: int = 0) -> str:
    # number_format cuts the digits off: round (half up) first.
    value = Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return number_format(value, places, use_l10n=True, force_grouping=True)


def percent(rate) -> str:
    return "—" if rate is None else f"{_number(rate * 100, 1)}\u00a0%"


def points(diff) -> str:
    """A difference of rates in percentage points: "+4.2 pp"."""
    if diff is None:
        return "—"
    sign = "+" if diff > 0 else ("−" if diff < 0 else "")
    return _("%(n)s pp") % {"n": f"{sign}{_number(abs(diff) * 100, 1)}"}


def signed_money(amount) -> str:
    if amount is None:
        return "—"
    if amount < 0:
        return f"−{money_text(-amount)}"
    return f"+{money_text(amount)}" if amount > 0 else money_text(amount)


def roi_text(roi) -> str:
    return "—" if roi is None else f"{_number(roi, 2)}\u00a0×"


class ResultsMixin:
    # --- results -----------------------------------------------------------------

    def results_view(self, request, object_id):
        campaign = get_object_or_404(Campaign, pk=object_id)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        config = CampaignSettings.current()
        treatment, control, costs = results.campaign_arms(campaign, config=config)
        result = results.result_of(treatment, control, costs, config)
        rows = result_rows(result)
        if request.GET.get("format") == "csv":
            return results_csv(campaign, result, costs)
        cost_rows = [
            (_("Discounts of the personal codes"), money_text(costs.discounts)),
            (_("Bonus points"), money_text(costs.points)),
            (_("Vouchers used"), money_text(costs.vouchers)),
            (_("Messages"), money_text(costs.messages)),
        ]
        return TemplateResponse(
            request,
            "admin/campaigns/campaign/results.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Results"),
                "subtitle": campaign.name,
                "opts": self.model._meta,
                "original": campaign,
                "result": result,
                "rows": rows,
                "cost_rows": cost_rows,
                "summary": summary_rows(result),
                "margin": percent(result.gross_margin),
            },
        )

    def program_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        campaigns, program = results.program_results()
        rows = [
            {
                "campaign": c,
                "targeted": _number(r.treatment.targeted),
                "control": _number(r.control.targeted),
                "conversion": f"{percent(r.treatment.conversion_rate)} / "
                f"{percent(r.control.conversion_rate)}",
                "uplift": points(r.uplift),
                "incremental": signed_money(r.incremental_revenue),
                "cost": money_text(r.cost),
                "roi": roi_text(r.roi),
                "enough": r.enough_data,
                "reason": r.reason,
            }  # fmt: skip
            for c, r in campaigns
        ]
        totals = [
            (_("Campaigns with enrollments"), _number(program.campaigns)),
            (_("Measured (with a control group)"), _number(program.measured)),
            (_("With enough data"), _number(program.conclusive)),
            (_("Members targeted"), _number(program.targeted)),
            (_("Members in control groups"), _number(program.control)),
            (_("Incremental revenue"), signed_money(program.incremental_revenue)),
            (_("Incremental profit"), signed_money(program.incremental_profit)),
            (_("Cost"), money_text(program.cost)),
            (_("ROI"), roi_text(program.roi)),
        ]
        holdout = results.program_holdout()
        return TemplateResponse(
            request,
            "admin/campaigns/campaign/program.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Program results"),
                "opts": self.model._meta,
                "rows": rows,
                "totals": totals,
                "holdout": holdout,
                "holdout_rows": result_rows(holdout.result) if holdout else [],
                "holdout_summary": summary_rows(holdout.result)[:2] if holdout else [],
            },
        )


def _arm_cells(arm) -> list:
    interval = (
        "—"
        if arm.conversion_rate is None
        else f"{percent(arm.conversion_low)} – {percent(arm.conversion_high)}"
    )
    return [
        _number(arm.targeted), _number(arm.sent), _number(arm.delivered),
        _number(arm.redeemed), _number(arm.converted), percent(arm.conversion_rate),
        interval,
        "—" if arm.revenue_per_member is None else money_text(arm.revenue_per_member),
    ]  # fmt: skip


ROW_LABELS = [
    _("Members targeted"), _("Messages sent"), _("Delivered"),
    _("Offers redeemed"), _("Converted (a paid visit in the window)"),
    _("Conversion rate"), _("Interval of the rate (95%)"), _("Revenue per member"),
]  # fmt: skip


def result_rows(result) -> list[tuple]:
    return list(
        zip(
            ROW_LABELS,
            _arm_cells(result.treatment),
            _arm_cells(result.control),
            strict=True,
        )
    )


def summary_rows(result) -> list[tuple]:
    def between(low, high, fmt) -> str:
        return "" if low is None else f"{fmt(low)} … {fmt(high)}"

    return [
        (_("Conversion uplift"), points(result.uplift),
         between(result.uplift_low, result.uplift_high, points)),
        (_("Revenue per member, difference"), signed_money(result.revenue_diff),
         between(result.revenue_diff_low, result.revenue_diff_high, signed_money)),
        (_("Incremental revenue"), signed_money(result.incremental_revenue), ""),
        (_("Incremental profit"), signed_money(result.incremental_profit), ""),
        (_("Cost"), money_text(result.cost), ""),
        (_("ROI"), roi_text(result.roi), ""),
    ]  # fmt: skip


def results_csv(campaign, result, costs) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.pk}-results.csv"'
    )
    csv.writer(response).writerows(results.csv_rows(result, costs))
    return response


# --- settings, enrollments, sends ------------------------------------------------
