"""A manager opens every dashboard in a real browser, in English and Russian,
changes a filter and downloads a table as CSV.

On the demo chain with its aggregates rebuilt (``analytics_rebuild`` when it
is installed), each dashboard must open with its tabs, filters and at least
one KPI card or table, without a JavaScript error (the pages have none of
their own: the charts are SVG drawn on the server).
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands
from django.urls import reverse
from playwright.sync_api import expect

from analytics import dashboards
from analytics.dashboards import DASHBOARDS, DashboardEntry
from analytics.tables import Column, Dashboard, Kpi, Table
from tests.browser.conftest import snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(program_defaults):
    call_command("seed_demo", members=40, verbosity=0)
    call_command("points_backfill", spend_every=4, verbosity=0)
    if "analytics_rebuild" in get_commands():
        call_command("analytics_rebuild", verbosity=0)


def _use_language(page, language: str) -> None:
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": page.url}]
    )


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_dashboard_opens(demo, manager, language):
    page = manager
    page.set_viewport_size({"width": 1440, "height": 900})
    _use_language(page, language)
    page.goto(reverse("analytics:index") + "?preset=last12")
    for entry in DASHBOARDS:
        page.goto(
            reverse("analytics:dashboard", kwargs={"key": entry.key}) + "?preset=last12"
        )
        expect(page.locator(".an-tabs [aria-current=page]")).to_be_visible()
        expect(page.locator("#an-filters")).to_be_visible()
        expect(page.locator(".an-kpi, .an-block").first).to_be_visible()
        assert page.locator(".errornote").count() == 0, entry.key
        wide = page.evaluate(
            "() => document.documentElement.scrollWidth > window.innerWidth + 1"
        )
        assert not wide, f"{entry.key} scrolls sideways at 1440 px"
        snapshot(page, f"dashboard-{entry.key}-{language}")


def test_a_filter_change_reloads_and_a_table_downloads(demo, manager):
    page = manager
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto(reverse("analytics:dashboard", kwargs={"key": DASHBOARDS[0].key}))

    page.get_by_label("From").fill("2025-01-01")
    page.get_by_role("button", name="Show").click()

    expect(page).to_have_url(re.compile(r"date_from=2025-01-01"))
    expect(page.get_by_label("From")).to_have_value("2025-01-01")
    snapshot(page, "dashboard-filtered-1024")
    link = page.get_by_role("link", name="CSV").first
    expect(link).to_have_attribute("href", re.compile(r"date_from=2025-01-01"))
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"{DASHBOARDS[0].key}-")
    assert "-2025-01-01-" in download.suggested_filename
    content = Path(download.path()).read_bytes()
    assert content.startswith("\ufeff".encode())


def test_a_wrong_period_is_an_error_on_the_page(demo, manager):
    page = manager
    page.goto(
        reverse("analytics:dashboard", kwargs={"key": DASHBOARDS[0].key})
        + "?date_from=2026-02-01&date_to=2026-01-01"
    )

    expect(page.locator(".errorlist")).to_contain_text("before its start")
    snapshot(page, "dashboard-error")


def every_chart(f):
    """A dashboard with every kind of chart (the test's own selector)."""
    months = [Column(f"m{i}", f"M{i}", "percent") for i in range(13)]
    tiers = [
        {"tier": name, "members": n, "revenue": Decimal(n * 730), "share": share}
        for name, n, share in [
            ("Base", 120, Decimal("0.61")),
            ("Silver", 48, Decimal("0.29")),
            ("Gold", 9, Decimal("0.1")),
        ]
    ]
    tier_columns = [
        Column("tier", "Tier", "text"),
        Column("members", "Members", "count"),
        Column("revenue", "Revenue", "money"),
        Column("share", "Share", "percent"),
    ]
    return Dashboard(
        key="charts",
        title="Charts",
        filters=f,
        kpis=[Kpi("rate", "Rate", Decimal("0.4"), "percent", 4, 10, "A rate.")],
        tables=[
            Table("bars", "Bars", tier_columns, tiers, "bar", series=["members"]),
            Table(
                "stack",
                "Stacked",
                tier_columns,
                tiers,
                "stacked",
                series=["members", "revenue"],
            ),
            Table("lines", "Lines", tier_columns, tiers, "line", series=["share"]),
            Table(
                "cohorts",
                "Cohorts",
                [Column("cohort", "Cohort", "text"), *months],
                [
                    {"cohort": f"2025-{m:02}"}
                    | {
                        f"m{i}": Decimal(1) if i == 0 else Decimal(50 - 3 * i) / 100
                        for i in range(13 - m + 1)
                    }
                    for m in range(1, 13)
                ],
                "heatmap",
            ),
        ],
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_kind_of_chart_draws(manager, monkeypatch, scheme):
    entry = DashboardEntry("charts", "Charts", f"{__name__}.every_chart")
    monkeypatch.setattr(dashboards, "DASHBOARDS", [entry])
    page = manager
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 1024, "height": 800})

    page.goto(reverse("analytics:dashboard", kwargs={"key": "charts"}))

    expect(page.locator("svg[role=img]")).to_have_count(4)
    expect(page.locator("svg.chart-heatmap .ch-cell")).to_have_count(
        sum(13 - m + 1 for m in range(1, 13))
    )
    wide = page.evaluate(
        "() => document.documentElement.scrollWidth > window.innerWidth + 1"
    )
    assert not wide
    snapshot(page, f"dashboard-charts-{scheme}-1024")
