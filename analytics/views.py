"""The dashboards' pages inside the admin: the index, a dashboard (filters,
KPI cards, each chart with its table) and the CSV/XLSX export of any table.

Thin: the filters come from ``analytics.forms``, the figures from the
selector the registry (``analytics.dashboards``) names, the drawing from
``analytics.charts`` and the files from ``analytics.exports``. The URLs are
wrapped in ``admin.site.admin_view``: anonymous users go to the admin's login,
staff without the dashboard's permission get a 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics.charts import chart_svg, format_value, has_data
from analytics.dashboards import DashboardEntry, dashboard_get, dashboards_for
from analytics.db import heavy_reads
from analytics.exports import export_filename, table_csv, table_xlsx
from analytics.forms import PRESETS, FiltersForm, filters_query, filters_querystring
from analytics.tables import Dashboard, Filters, Kpi, Table

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
NUMERIC = {"count", "money", "percent", "points", "number"}


@dataclass
class KpiCard:
    kpi: Kpi
    value: str
    change: str = ""
    trend: str = ""  # "up", "down" or "" (no change / nothing to compare)
    previous: str = ""
    parts: str = ""


@dataclass
class TableView:
    table: Table
    svg: str
    headers: list[tuple[str, bool]]
    rows: list[list[tuple[str, bool]]]
    csv_url: str
    xlsx_url: str
    has_chart: bool = False
    empty: bool = False
    notes: list[str] = field(default_factory=list)


def _entry(request, key: str) -> DashboardEntry:
    entry = dashboard_get(key)
    if entry is None:
        raise Http404(_("No such dashboard."))
    if not entry.allowed(request.user):
        raise PermissionDenied
    return entry


def _change(kpi: Kpi) -> tuple[str, str]:
    """The change against the previous period, as text and a direction.

    Rates change in percentage points; other figures by a relative percent
    (or by their difference when the previous period had none)."""
    if kpi.previous is None or kpi.value is None:
        return "", ""
    delta = Decimal(kpi.value) - Decimal(kpi.previous)
    trend = "up" if delta > 0 else "down" if delta < 0 else ""
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    if kpi.unit == "percent":
        points = formats.number_format(
            (abs(delta) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
            1,
            use_l10n=True,
        )
        return _("%(sign)s%(points)s pp") % {"sign": sign, "points": points}, trend
    if kpi.previous:
        relative = abs(delta) / abs(Decimal(kpi.previous))
        return sign + format_value(relative, "percent"), trend
    return sign + format_value(abs(delta), kpi.unit), trend


def kpi_card(kpi: Kpi) -> KpiCard:
    change, trend = _change(kpi)
    parts = ""
    if kpi.numerator is not None and kpi.denominator is not None:
        unit = "money" if kpi.unit == "money" else "number"
        parts = f"{format_value(kpi.numerator, unit)} / " + format_value(
            kpi.denominator, "number"
        )
    return KpiCard(
        kpi=kpi,
        value=format_value(kpi.value, kpi.unit),
        change=change,
        trend=trend,
        previous=(
            format_value(kpi.previous, kpi.unit) if kpi.previous is not None else ""
        ),
        parts=parts,
    )


def table_view(entry: DashboardEntry, table: Table, f: Filters) -> TableView:
    query = filters_querystring(f)

    def url(fmt: str) -> str:
        path = reverse(
            "analytics:export",
            kwargs={"key": entry.key, "table": table.key, "fmt": fmt},
        )
        return f"{path}?{query}"

    drawn = bool(table.chart) and has_data(table)
    return TableView(
        table=table,
        svg=chart_svg(table) if drawn else "",
        headers=[(c.label, c.unit in NUMERIC) for c in table.columns],
        rows=[
            [
                (format_value(row.get(c.key), c.unit), c.unit in NUMERIC)
                for c in table.columns
            ]
            for row in table.rows
        ],
        csv_url=url("csv"),
        xlsx_url=url("xlsx"),
        has_chart=drawn,
        empty=not table.rows,
    )


def _tabs(request, entries: list[DashboardEntry], query: str, current: str):
    return [
        {
            "entry": entry,
            "url": reverse("analytics:dashboard", kwargs={"key": entry.key})
            + (f"?{query}" if query else ""),
            "current": entry.key == current,
        }
        for entry in entries
    ]


def index(request):
    entries = dashboards_for(request.user)
    if not entries:
        raise PermissionDenied
    query = request.GET.urlencode()
    return TemplateResponse(
        request,
        "analytics/dashboard_index.html",
        {
            **admin.site.each_context(request),
            "title": gettext_lazy("Dashboards"),
            "tabs": _tabs(request, entries, query, ""),
            # This page stands where the admin's list of the app's models was
            # (``admin/analytics/``): those models (the marketing spend) are
            # listed here too.
            "app_list": admin.site.get_app_list(request, app_label="analytics"),
        },
    )


def dashboard(request, key: str):
    entry = _entry(request, key)
    form = FiltersForm(request.GET)
    board: Dashboard | None = None
    cards: list[KpiCard] = []
    tables: list[TableView] = []
    query = ""
    if form.is_valid():
        f = form.filters()
        with heavy_reads():
            board = entry.load()(f)
        cards = [kpi_card(kpi) for kpi in board.kpis]
        tables = [table_view(entry, table, f) for table in board.tables]
        query = filters_querystring(f)
        # Show the question as dates (a preset resolved), ready to adjust.
        form = FiltersForm(filters_query(f))
        form.is_valid()
    preset_query = {
        k: v
        for k, v in request.GET.items()
        if k in ("location", "tier", "specialist") and v
    }
    presets = [
        {
            "label": label,
            "url": "?" + urlencode({**preset_query, "preset": value}),
            "current": request.GET.get("preset") == value,
        }
        for value, label in PRESETS
    ]
    return TemplateResponse(
        request,
        "analytics/dashboard.html",
        {
            **admin.site.each_context(request),
            "title": entry.title,
            "entry": entry,
            "board": board,
            "form": form,
            "presets": presets,
            "cards": cards,
            "tables": tables,
            "tabs": _tabs(request, dashboards_for(request.user), query, entry.key),
            "index_url": reverse("analytics:index") + (f"?{query}" if query else ""),
        },
    )


def export(request, key: str, table: str, fmt: str):
    """One table of a dashboard as a file, for the filters in the query string.

    Invalid filters or an unknown table answer 400 with a JSON ``code``
    (the link came from a page, so this is a hand-edited URL)."""
    entry = _entry(request, key)
    if fmt not in CONTENT_TYPES:
        raise Http404
    form = FiltersForm(request.GET)
    if not form.is_valid():
        return JsonResponse(
            {
                "code": "invalid_filters",
                "message": _("The filters are not valid."),
                "fields": form.errors.get_json_data(),
            },
            status=400,
        )
    f = form.filters()
    with heavy_reads():
        board = entry.load()(f)
    found = next((t for t in board.tables if t.key == table), None)
    if found is None:
        return JsonResponse(
            {
                "code": "unknown_table",
                "message": _("This dashboard has no such table."),
            },
            status=404,
        )
    content = table_csv(found) if fmt == "csv" else table_xlsx(found)
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    name = export_filename(entry.key, found.key, f, fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
