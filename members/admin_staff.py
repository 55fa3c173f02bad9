"""The staff who perform services: the specialists' editor."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.models import Specialist


@admin.register(Specialist)
class SpecialistAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "location_names", "is_active"]
    list_filter = ["is_active", "locations"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    filter_horizontal = ["locations"]
    autocomplete_fields = ["user"]
    fields = ["name", "code", "locations", "is_active", "user"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("locations")

    @admin.display(description=_("locations"))
    def location_names(self, specialist):
        return ", ".join(loc.name for loc in specialist.locations.all())
