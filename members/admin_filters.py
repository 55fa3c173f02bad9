"""List filters for the members admin."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext_lazy as _

from members.models import Specialist, VisitLine


class LastVisitFilter(admin.SimpleListFilter):
    title = _("last visit")
    parameter_name = "last_visit"

    def lookups(self, request, model_admin):
        return [
            ("30", _("Within 30 days")),
            ("90", _("Within 90 days")),
            ("90-180", _("90–180 days ago")),
            ("180-365", _("180–365 days ago")),
            ("365+", _("Over a year ago")),
            ("never", _("Never")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "never":
            return queryset.filter(last_visit_at__isnull=True)
        now = timezone.now()
        if value.endswith("+"):
            return queryset.filter(
                last_visit_at__lt=now - timedelta(days=int(value[:-1]))
            )
        if "-" in value:
            newest, oldest = (int(v) for v in value.split("-"))
            return queryset.filter(
                last_visit_at__lt=now - timedelta(days=newest),
                last_visit_at__gte=now - timedelta(days=oldest),
            )
        return queryset.filter(last_visit_at__gte=now - timedelta(days=int(value)))


class BirthdayMonthFilter(admin.SimpleListFilter):
    title = _("birthday month")
    parameter_name = "birthday_month"

    def lookups(self, request, model_admin):
        return [(str(number), name) for number, name in MONTHS.items()]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(birthday__month=int(self.value()))
        return queryset


class VisitClientFilter(admin.SimpleListFilter):
    """Members' visits or anonymous ones (a POS sale to no member)."""

    title = _("client")
    parameter_name = "client"

    def lookups(self, request, model_admin):
        return [("member", _("Members")), ("anonymous", _("Anonymous"))]

    def queryset(self, request, queryset):
        if self.value() == "member":
            return queryset.filter(member__isnull=False)
        if self.value() == "anonymous":
            return queryset.filter(member__isnull=True)
        return queryset


class VisitSpecialistFilter(admin.SimpleListFilter):
    """Visits with a line by this specialist: a subquery, so a visit with two
    such lines shows once (no join, no DISTINCT over the visit list)."""

    title = _("specialist")
    parameter_name = "specialist"

    def lookups(self, request, model_admin):
        return [
            (str(pk), name) for pk, name in Specialist.objects.values_list("pk", "name")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        return queryset.filter(
            pk__in=VisitLine.objects.filter(specialist_id=int(value)).values("visit_id")
        )
