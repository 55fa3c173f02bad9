"""The dashboards' pages: who may open them, the filters reaching the
selector, charts with their tables, and the exports.

A test dashboard (``sample_dashboard``, registered with ``monkeypatch`` of the
registry) renders a small real ``Dashboard``; the real selectors are opened
as they are (``test_every_registered_dashboard_opens``).
"""

import csv
import io
from datetime import date
from decimal import Decimal
from importlib.util import find_spec

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from analytics import dashboards
from analytics.dashboards import DashboardEntry
from analytics.tables import Column, Dashboard, Filters, Kpi, Table
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _march_15():
    with time_machine.travel("2026-03-15 12:00:00+03:00", tick=False):
        yield


asked: list[Filters] = []


def sample_dashboard(f: Filters) -> Dashboard:
    """A small dashboard, as a selector returns it."""
    asked.append(f)
    return Dashboard(
        key="sample",
        title="Sample",
        filters=f,
        kpis=[
            Kpi(
                "repeat_rate",
                "Repeat purchase rate",
                Decimal("0.25"),
                unit="percent",
                numerator=30,
                denominator=120,
                definition="Members with 2 or more paid visits ÷ members with 1.",
                previous=Decimal("0.2"),
            ),
            Kpi("revenue", "Revenue", Decimal("125000.00"), unit="money"),
        ],
        tables=[
            Table(
                key="by_tier",
                title="Members by tier",
                columns=[
                    Column("tier", "Tier", "text"),
                    Column("members", "Members", "count"),
                    Column("revenue", "Revenue", "money"),
                ],
                rows=[
                    {"tier": "Bronze", "members": 120, "revenue": Decimal("84000")},
                    {"tier": "Gold", "members": 9, "revenue": Decimal("30000.5")},
                ],
                series=["members"],
            ),
            Table(
                key="empty",
                title="Nothing here",
                columns=[Column("month", "Month", "text"), Column("n", "N")],
                chart="line",
            ),
        ],
    )


@pytest.fixture
def sample(monkeypatch):
    asked.clear()
    entry = DashboardEntry("sample", "Sample", f"{__name__}.sample_dashboard")
    monkeypatch.setattr(dashboards, "DASHBOARDS", [entry])
    return entry


def url(key="sample", **params):
    path = reverse("analytics:dashboard", kwargs={"key": key})
    return path + (
        "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    )


def export_url(fmt, table="by_tier", **params):
    path = reverse(
        "analytics:export", kwargs={"key": "sample", "table": table, "fmt": fmt}
    )
    return path + (
        "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    )


# --- who may open them --------------------------------------------------------


@pytest.mark.parametrize("who", ["manager_client", "analyst_client"])
def test_manager_and_analyst_open_a_dashboard(sample, who, request):
    client = request.getfixturevalue(who)

    response = client.get(url())

    assert response.status_code == 200
    assert response.templates[0].name == "analytics/dashboard.html"


def test_the_front_desk_gets_a_403(sample, front_desk_client):
    assert front_desk_client.get(url()).status_code == 403
    assert front_desk_client.get(reverse("analytics:index")).status_code == 403
    assert front_desk_client.get(export_url("csv")).status_code == 403
    assert asked == []


def test_anonymous_users_go_to_the_admin_login(sample, client):
    response = client.get(url())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_an_unknown_dashboard_is_not_found(sample, manager_client):
    assert manager_client.get("/admin/analytics/nosuch/").status_code == 404


# --- filters ----------------------------------------------------------------


def test_the_default_question_is_the_last_30_days(sample, manager_client):
    manager_client.get(url())

    assert asked == [Filters(date_from=date(2026, 2, 14), date_to=date(2026, 3, 15))]


def test_the_filters_reach_the_selector(sample, manager_client):
    location = LocationFactory()

    manager_client.get(
        url(date_from="2026-01-01", date_to="2026-01-31", location=location.pk)
    )

    assert asked == [
        Filters(
            date_from=date(2026, 1, 1),
            date_to=date(2026, 1, 31),
            location_id=location.pk,
        )
    ]


def test_a_preset_reaches_the_selector_as_dates(sample, manager_client):
    response = manager_client.get(url(preset="last_month"))

    assert asked[0].date_from == date(2026, 2, 1)
    assert asked[0].date_to == date(2026, 2, 28)
    # The form shows the preset's dates, ready to adjust.
    assert 'value="2026-02-01"' in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},
        {"date_from": "2019-01-01", "date_to": "2026-01-01"},
        {"location": "987654"},
        {"tier": "x"},
        {"date_to": "31.02.2026"},
    ],
)
def test_invalid_filters_show_an_error_and_run_no_query(sample, manager_client, params):
    response = manager_client.get(url(**params))

    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'class="errorlist' in response.text
    assert asked == []


def test_the_filters_carry_over_to_exports_and_tabs(sample, manager_client):
    location = LocationFactory()

    response = manager_client.get(
        url(date_from="2026-01-01", date_to="2026-01-31", location=location.pk)
    )

    query = f"date_from=2026-01-01&amp;date_to=2026-01-31&amp;location={location.pk}"
    assert f"by_tier.csv?{query}" in response.text
    assert f"by_tier.xlsx?{query}" in response.text
    assert f"/admin/analytics/sample/?{query}" in response.text


# --- what the page shows ----------------------------------------------------


def test_kpi_cards_show_value_change_parts_and_definition(sample, manager_client):
    response = manager_client.get(url())
    html = response.text

    assert "25.0%" in html
    assert "+5.0 pp" in html  # 25 % against 20 %: percentage points
    assert "30 / 120" in html
    assert 'title="Members with 2 or more paid visits ÷ members with 1."' in html
    assert 'aria-describedby="kpi-repeat_rate-def"' in html
    assert "125,000\xa0₽" in html


def test_each_chart_has_its_table_and_an_empty_table_says_so(sample, manager_client):
    response = manager_client.get(url())
    html = response.text

    assert html.count('role="img"') == 1
    assert '<th scope="row">Bronze</th>' in html
    assert "84,000\xa0₽" in html
    assert "No data for these filters." in html


def test_the_page_speaks_russian(sample, manager_client):
    response = manager_client.get(url(), HTTP_ACCEPT_LANGUAGE="ru")

    assert "125\xa0000\xa0₽" in response.text
    assert "25,0\xa0%" in response.text


def test_the_index_lists_the_dashboards(sample, analyst_client):
    response = analyst_client.get(reverse("analytics:index"))

    assert response.status_code == 200
    assert url() in response.text


def test_the_index_stands_for_the_apps_admin_and_keeps_its_models(
    sample, manager_client
):
    response = manager_client.get(reverse("admin:app_list", args=["analytics"]))

    assert response.templates[0].name == "analytics/dashboard_index.html"
    assert reverse("admin:analytics_marketingspend_changelist") in response.text
    assert (
        manager_client.get(
            reverse("admin:analytics_marketingspend_changelist")
        ).status_code
        == 200
    )


# --- exports ----------------------------------------------------------------


def test_csv_export_of_a_table_with_the_filters(sample, manager_client):
    response = manager_client.get(
        export_url("csv", date_from="2026-01-01", date_to="2026-01-31")
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="sample-by_tier-2026-01-01-2026-01-31.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["Tier", "Members", "Revenue"],
        ["Bronze", "120", "84000.00"],
        ["Gold", "9", "30000.50"],
    ]
    assert asked[0].date_from == date(2026, 1, 1)


def test_xlsx_export_opens_back(sample, analyst_client):
    response = analyst_client.get(export_url("xlsx"))

    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["Tier", "Members", "Revenue"],
        ["Bronze", 120, 84000],
        ["Gold", 9, 30000.5],
    ]


def test_export_errors_are_json_with_a_code(sample, manager_client):
    bad_filters = manager_client.get(export_url("csv", date_from="2026-13-01"))
    no_table = manager_client.get(export_url("csv", table="nosuch"))
    no_format = manager_client.get(export_url("pdf"))

    assert bad_filters.status_code == 400
    assert bad_filters.json()["code"] == "invalid_filters"
    assert no_table.status_code == 404
    assert no_table.json()["code"] == "unknown_table"
    assert no_format.status_code == 404


# --- the real selectors -----------------------------------------------------


def _available(entry: DashboardEntry) -> bool:
    module = entry.selector.rsplit(".", 1)[0]
    return find_spec(module) is not None


@pytest.mark.parametrize("entry", dashboards.DASHBOARDS, ids=lambda e: e.key)
@pytest.mark.parametrize("who", ["manager_client", "analyst_client"])
def test_every_registered_dashboard_opens(entry, who, request, member, record_visit):
    if not _available(entry):
        pytest.skip(f"{entry.selector} is not written yet")
    record_visit(member)
    record_visit(member)
    client = request.getfixturevalue(who)

    response = client.get(url(entry.key, preset="last12"))

    assert response.status_code == 200
    for table in response.context["tables"]:
        export = reverse(
            "analytics:export",
            kwargs={"key": entry.key, "table": table.table.key, "fmt": "csv"},
        )
        assert client.get(export + "?preset=last12").status_code == 200
