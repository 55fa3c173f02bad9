"""The analytics app's admin: the marketing spend per month (entered by the
manager, read by the analyst). The aggregates have no admin: the refresh
writes them and the dashboards show them."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from analytics.models import MarketingSpend
from analytics.services_extra import marketing_spend_save


@admin.register(MarketingSpend)
class MarketingSpendAdmin(admin.ModelAdmin):
    list_display = ["month_display", "amount", "note", "entered_by", "entered_at"]
    list_select_related = ["entered_by"]
    fields = ["month", "amount", "note", "entered_by", "entered_at"]
    readonly_fields = ["entered_by", "entered_at"]
    date_hierarchy = "month"
    ordering = ["-month"]

    @admin.display(description=_("month"), ordering="month")
    def month_display(self, spend: MarketingSpend) -> str:
        return spend.month.strftime("%Y-%m")

    def save_model(self, request, obj, form, change):
        # The form has validated the row (amount ≥ 0, one row a month, the
        # month as its first day): the service writes it with who and when.
        saved = marketing_spend_save(
            month=form.cleaned_data["month"],
            amount=form.cleaned_data["amount"],
            note=form.cleaned_data.get("note", ""),
            actor=request.user,
            spend=obj,
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        # A month without spend is a month without CAC: correct it, keep it.
        return False
