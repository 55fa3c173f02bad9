"""The dashboards, inside the admin (``config.urls`` mounts them at
``admin/analytics/``, before the admin): the admin's login and staff check
come first.

A dashboard's key matches only a key of the registry, so the analytics
models' own admin pages (``admin/analytics/<model>/``) still resolve to the
admin; the index replaces the admin's list of the app's models.
"""

from django.contrib import admin
from django.urls import path, register_converter

from analytics import views
from analytics.dashboards import dashboard_get


class DashboardKey:
    """A registered dashboard's key (read at resolve time, so an entry added
    to the registry is routed at once)."""

    regex = "[-a-z0-9_]+"

    def to_python(self, value: str) -> str:
        if dashboard_get(value) is None:
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(DashboardKey, "dashboard")

app_name = "analytics"

urlpatterns = [
    path("", admin.site.admin_view(views.index), name="index"),
    path("<dashboard:key>/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path(
        "<dashboard:key>/<slug:table>.<slug:fmt>",
        admin.site.admin_view(views.export),
        name="export",
    ),
]
