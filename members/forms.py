"""Forms of the staff pages: the admin's "record a visit" checkout form."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminSplitDateTime, AutocompleteSelect
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Location, Member, Service, Visit
from members.services import MAX_LINE_QUANTITY, VisitLineInput


class VisitRecordForm(forms.Form):
    member = forms.ModelChoiceField(
        Member.objects.filter(status=Member.Status.ACTIVE),
        label=_("Member"),
        widget=AutocompleteSelect(Visit._meta.get_field("member"), admin.site),
    )
    location = forms.ModelChoiceField(
        Location.objects.filter(is_active=True), label=_("Location")
    )
    paid_at = forms.SplitDateTimeField(
        label=_("Paid at"), widget=AdminSplitDateTime, initial=timezone.now
    )
    amount_paid = forms.DecimalField(
        label=_("Paid in money"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text=_("Leave empty when the client paid the full total."),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=255)


class VisitLineForm(forms.Form):
    service = forms.ModelChoiceField(
        Service.objects.filter(is_active=True).select_related("category"),
        label=_("Service"),
    )
    quantity = forms.IntegerField(
        label=_("Quantity"), min_value=1, max_value=MAX_LINE_QUANTITY, initial=1
    )
    price = forms.DecimalField(
        label=_("Price"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text=_("Empty: the service's base price."),
    )

    def to_input(self) -> VisitLineInput:
        data = self.cleaned_data
        return VisitLineInput(
            service=data["service"], quantity=data["quantity"], price=data["price"]
        )


VisitLineFormSet = forms.formset_factory(
    VisitLineForm, extra=3, min_num=1, validate_min=True, max_num=30
)
