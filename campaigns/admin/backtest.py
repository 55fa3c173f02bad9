"""The editor's backtest page: replay the last N months under this campaign
or promotion (``campaigns.backtest``). For a ``ModelAdmin`` of ``Campaign``
or ``Promotion``: mix ``BacktestMixin`` in and the page is at
``<id>/backtest/`` (``admin:campaigns_<model>_backtest``). Changes nothing."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.formats import date_format, number_format
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from campaigns.backtest import backtest
from members.money import money_text


def _number(value) -> str:
    return number_format(value, force_grouping=True)


def _shown(result) -> list[list[str]]:
    """The table for people: months by name, grouped numbers, money."""
    head = result.as_table()[0]
    lines = [head]
    for row in [*result.rows, result.total]:
        label = (
            _("Total") if row is result.total
            else capfirst(date_format(row.month, "YEAR_MONTH_FORMAT"))
        )  # fmt: skip
        lines.append([
            str(label), _number(row.occurrences), _number(row.members),
            _number(row.messages), _number(row.points), money_text(row.money),
        ])  # fmt: skip
    return lines


class BacktestForm(forms.Form):
    months = forms.IntegerField(label=_("Months"), min_value=1, max_value=24, initial=6)


class BacktestMixin:
    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<int:object_id>/backtest/",
                self.admin_site.admin_view(self.backtest_view),
                name=f"{opts.app_label}_{opts.model_name}_backtest",
            ),
            *super().get_urls(),
        ]

    def backtest_view(self, request, object_id):
        obj = get_object_or_404(self.model, pk=object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        form = BacktestForm(request.GET or {"months": 6})
        result = table = None
        if form.is_valid():
            result = backtest(obj, months=form.cleaned_data["months"])
            table = _shown(result)
        return TemplateResponse(
            request,
            "admin/campaigns/backtest.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Backtest"),
                "subtitle": str(obj),
                "opts": self.model._meta,
                "original": obj,
                "form": form,
                "result": result,
                "head": table[0] if table else [],
                "body": table[1:-1] if table else [],
                "foot": table[-1] if table else [],
            },
        )
