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
from django.utils.translation import gettext_lazy as _

from campaigns.backtest import backtest


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
            table = result.as_table()
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
