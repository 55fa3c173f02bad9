"""Admin pieces every app may use: nothing here knows a member or a program."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: viewable, never added, edited or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def nowrap_datetime(value) -> str:
    """A short date and time on one line: lists stay readable on a desk screen."""
    text = date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    return format_html('<span style="white-space:nowrap">{}</span>', text)
