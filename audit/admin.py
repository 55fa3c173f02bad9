"""The audit trail in the admin: one searchable list, read-only for everyone."""

import json

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent
from core.admin_helpers import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "ip", "action", "content_type", "object_repr"]
    list_filter = ["action", ("content_type", admin.RelatedOnlyFieldListFilter), "at"]
    search_fields = ["username", "object_repr", "object_id", "=ip"]
    date_hierarchy = "at"
    list_select_related = ["content_type"]
    fields = [
        "at",
        "user",
        "username",
        "ip",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "changes_table",
    ]
    readonly_fields = fields

    @admin.display(description=_("changes: before → after"))
    def changes_table(self, event):
        return format_html_join(
            "",
            "<div><b>{}</b>: {} → {}</div>",
            (
                (
                    name,
                    json.dumps(before, ensure_ascii=False),
                    json.dumps(after, ensure_ascii=False),
                )
                for name, (before, after) in sorted(event.changes.items())
            ),
        )
