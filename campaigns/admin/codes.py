"""Promo codes: found by the code as typed, a public code added by a manager
through ``promo_code_public_create``, batches exported as CSV.

Batches are generated on the promotion's page ("Generate codes")."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from campaigns import services
from campaigns.admin.common import promotion_link
from campaigns.codes import code_normalize
from campaigns.forms import PromoCodeChangeForm, PublicCodeForm
from campaigns.models import PromoCode
from core.admin_helpers import nowrap_datetime

CSV_HEADERS = ["code", "batch", "max_uses", "uses", "valid_until"]


class _Echo:
    """A file whose ``write`` hands the line back (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def codes_csv(queryset):
    """The codes as CSV lines, read in chunks: a batch of 100 000 streams."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADERS)
    rows = queryset.order_by("pk").values_list(
        "code", "batch", "max_uses", "uses", "valid_until"
    )
    for code, batch, max_uses, uses, valid_until in rows.iterator(chunk_size=2000):
        until = timezone.localtime(valid_until).isoformat() if valid_until else ""
        yield writer.writerow(
            [code, batch, "" if max_uses is None else max_uses, uses, until]
        )


@admin.register(PromoCode)
class PromoCodeAdmin(SimpleHistoryAdmin):
    list_display = ["code", "promotion_col", "batch", "uses_col", "valid_until_col"]
    list_filter = ["promotion", "batch"]
    list_select_related = ["promotion"]
    search_fields = ["code", "batch"]
    search_help_text = _("The code as typed (any case, spaces or dashes), or a batch.")
    ordering = ["-pk"]
    empty_value_display = "—"
    actions = ["export_csv"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = PromoCodeChangeForm if obj else PublicCodeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["promotion", "code", "max_uses", "valid_from", "valid_until"]
        return [
            "code",
            "promotion_col",
            "batch",
            "uses",
            "max_uses",
            "valid_from",
            "valid_until",
            "created_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["code", "promotion_col", "batch", "uses", "created_at"]

    def get_autocomplete_fields(self, request):
        return ["promotion"]

    def get_search_results(self, request, queryset, search_term):
        code = code_normalize(search_term)
        if code and queryset.filter(code=code).exists():
            return queryset.filter(code=code), False
        return super().get_search_results(request, queryset, search_term.strip())

    def save_model(self, request, obj, form, change):
        if change:  # limits and dates only (``PromoCodeChangeForm``)
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        made = services.promo_code_public_create(
            promotion=data["promotion"],
            code=data["code"],
            max_uses=data["max_uses"],
            valid_from=data["valid_from"],
            valid_until=data["valid_until"],
        )
        obj.pk, obj.code, obj.created_at = made.pk, made.code, made.created_at

    def has_delete_permission(self, request, obj=None):
        # A code a redemption points to cannot go; one never used could, but
        # expiring it (``valid_until``) keeps the history the same either way.
        return False

    @admin.display(description=_("promotion"), ordering="promotion__name")
    def promotion_col(self, code):
        return promotion_link(code.promotion)

    @admin.display(description=_("uses"), ordering="uses")
    def uses_col(self, code):
        used = number_format(code.uses, 0, force_grouping=True)
        if code.max_uses is None:
            return _("%(n)s (unlimited)") % {"n": used}
        limit = number_format(code.max_uses, 0, force_grouping=True)
        return f"{used} / {limit}"

    @admin.display(description=_("valid until"), ordering="valid_until")
    def valid_until_col(self, code):
        return nowrap_datetime(code.valid_until) if code.valid_until else "—"

    # Unused codes are as good as money: exported by who may manage them.
    @admin.action(description=_("Export selected as CSV"), permissions=["change"])
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(
            codes_csv(queryset), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = (
            f'attachment; filename="promo-codes-{stamp}.csv"'
        )
        return response
