"""The *Export to CSV / XLSX* actions of the member and visit lists.

An action gets the selected rows, or with *Select all* every row matching the
list's current filters and search: the queryset is passed on unevaluated and
``members.exports`` iterates it in chunks, so exporting a million members
never holds them in memory.

- Members (with their phones, emails and birthdays) only for those who see
  contacts (``members.view_member_contacts``: the front desk, the manager).
- Visits for whoever may view them; the member's phone is masked for those who
  may not see contacts (the analyst), as it is on the list.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members import exports
from members.admin_privacy import sees_contacts

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _filename(kind: str, extension: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{kind}-{stamp}.{extension}"


def csv_response(kind: str, headers: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        exports.csv_chunks(headers, rows), content_type=CSV_TYPE
    )
    name = _filename(kind, "csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def xlsx_response(kind: str, headers: list[str], rows) -> FileResponse:
    # FileResponse closes the spooled file when it is sent, which removes it.
    return FileResponse(
        exports.xlsx_file(headers, rows, title=kind),
        as_attachment=True,
        filename=_filename(kind, "xlsx"),
        content_type=XLSX_TYPE,
    )


class MemberExportAdminMixin:
    """Mixed into ``MemberAdmin``; list ``export_members_csv`` and
    ``export_members_xlsx`` in its ``actions``."""

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request) and sees_contacts(request)

    @admin.action(description=_("Export selected to CSV"), permissions=["export"])
    def export_members_csv(self, request, queryset):
        return csv_response(
            "members", exports.MEMBER_HEADERS, exports.member_rows(queryset)
        )

    @admin.action(description=_("Export selected to XLSX"), permissions=["export"])
    def export_members_xlsx(self, request, queryset):
        return xlsx_response(
            "members", exports.MEMBER_HEADERS, exports.member_rows(queryset)
        )


class VisitExportAdminMixin:
    """Mixed into ``VisitAdmin``; list ``export_visits_csv`` and
    ``export_visits_xlsx`` in its ``actions``."""

    @admin.action(description=_("Export selected to CSV"), permissions=["view"])
    def export_visits_csv(self, request, queryset):
        rows = exports.visit_rows(queryset, mask_phones=not sees_contacts(request))
        return csv_response("visits", exports.VISIT_HEADERS, rows)

    @admin.action(description=_("Export selected to XLSX"), permissions=["view"])
    def export_visits_xlsx(self, request, queryset):
        rows = exports.visit_rows(queryset, mask_phones=not sees_contacts(request))
        return xlsx_response("visits", exports.VISIT_HEADERS, rows)


MEMBER_EXPORTS = ["export_members_csv", "export_members_xlsx"]
VISIT_EXPORTS = ["export_visits_csv", "export_visits_xlsx"]
