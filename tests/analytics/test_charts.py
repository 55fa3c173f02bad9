"""Server-side SVG charts: well-formed, one mark per figure, numbers
formatted per unit in the active language."""

from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.utils import translation

from analytics.charts import chart_svg, format_value, has_data
from analytics.tables import Column, Table

SVG = "{http://www.w3.org/2000/svg}"


def by_tier_table(chart="bar") -> Table:
    return Table(
        key="by_tier",
        title="Members by tier",
        columns=[
            Column("tier", "Tier", "text"),
            Column("members", "Members", "count"),
            Column("revenue", "Revenue", "money"),
        ],
        rows=[
            {"tier": "Bronze", "members": 120, "revenue": Decimal("84000.00")},
            {"tier": "Silver", "members": 45, "revenue": Decimal("61250.50")},
            {"tier": "Gold <VIP>", "members": 9, "revenue": Decimal("30000.00")},
        ],
        chart=chart,
        series=["members"],
    )


def cohort_table() -> Table:
    months = [Column(f"m{i}", f"Month {i}", "percent") for i in range(4)]
    return Table(
        key="cohorts",
        title="Cohorts",
        columns=[Column("cohort", "First visit", "text"), *months],
        rows=[
            {
                "cohort": "2026-01",
                "m0": Decimal("1"),
                "m1": Decimal("0.42"),
                "m2": Decimal("0.3"),
                "m3": None,
            },
            {"cohort": "2026-02", "m0": Decimal("1"), "m1": Decimal("0.375")},
        ],
        chart="heatmap",
    )


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def test_a_bar_chart_is_well_formed_svg_with_a_bar_per_row():
    root = parse(chart_svg(by_tier_table()))

    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Members by tier"
    bars = [r for r in root.iter(f"{SVG}rect") if "ch-bar" in r.get("class", "")]
    assert len(bars) == 3
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] > heights[1] > heights[2] > 0
    # The label's markup is text, not SVG: escaped and parsed back as such.
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Gold <VIP>" in texts


def test_several_series_draw_a_group_of_bars_per_row_with_a_legend():
    table = by_tier_table()
    table.series = ["members", "revenue"]

    root = parse(chart_svg(table))

    bars = [r for r in root.iter(f"{SVG}rect") if "ch-bar" in r.get("class", "")]
    assert len(bars) == 6
    assert {"Members", "Revenue"} <= {t.text for t in root.iter(f"{SVG}text")}


def test_stacked_bars_stack_each_rows_series():
    table = by_tier_table("stacked")
    table.series = ["members", "revenue"]

    root = parse(chart_svg(table))

    bars = [r for r in root.iter(f"{SVG}rect") if "ch-bar" in r.get("class", "")]
    assert len(bars) == 6


def test_a_line_chart_has_a_line_and_a_dot_per_row():
    root = parse(chart_svg(by_tier_table("line")))

    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 1
    assert len(lines[0].get("points").split()) == 3
    assert len(list(root.iter(f"{SVG}circle"))) == 3


def test_negative_values_hang_below_the_zero_line():
    table = by_tier_table()
    table.rows[1]["members"] = -20

    root = parse(chart_svg(table))

    bars = [r for r in root.iter(f"{SVG}rect") if "ch-bar" in r.get("class", "")]
    tops = [float(b.get("y")) for b in bars]
    # The negative bar starts at the zero line, below the positive bars' tops.
    assert tops[1] > tops[0]


def test_the_heatmap_prints_each_cell_and_shades_it_by_value():
    root = parse(chart_svg(cohort_table()))

    cells = [g for g in root.iter(f"{SVG}g") if "ch-cell" in g.get("class", "")]
    # 3 + 2 values: a missing value leaves its cell blank.
    assert len(cells) == 5
    printed = [g.find(f"{SVG}text").text for g in cells]
    assert printed == ["100%", "42%", "30%", "100%", "38%"]
    assert [t.text for t in root.iter(f"{SVG}text")][:5] == [
        "First visit",
        "Month 0",
        "Month 1",
        "Month 2",
        "Month 3",
    ]
    shades = [g.get("class").split()[1] for g in cells]
    assert shades[0] == "ch-h5"
    assert shades[1] in ("ch-h2", "ch-h3")


def test_nothing_to_draw_gives_no_chart():
    empty = by_tier_table()
    empty.rows = []
    blank = by_tier_table()
    blank.rows = [{"tier": "Bronze", "members": None}]
    table_only = by_tier_table("")

    assert chart_svg(empty) == ""
    assert chart_svg(blank) == ""
    assert not has_data(table_only)


@pytest.mark.parametrize(
    ("language", "value", "unit", "text"),
    [
        ("en", 12345, "count", "12,345"),
        ("ru", 12345, "count", "12\xa0345"),
        ("en", Decimal("4200.00"), "money", "4,200\xa0₽"),
        ("ru", Decimal("4200.50"), "money", "4\xa0200,50\xa0₽"),
        ("en", Decimal("0.125"), "percent", "12.5%"),
        ("ru", Decimal("0.125"), "percent", "12,5\xa0%"),
        ("en", 1500, "points", "1,500"),
        ("en", Decimal("2.5"), "number", "2.50"),
        ("en", None, "money", "—"),
        ("en", "Gold", "text", "Gold"),
    ],
)
def test_numbers_are_formatted_by_unit_and_language(language, value, unit, text):
    with translation.override(language):
        assert format_value(value, unit) == text


def test_the_axis_speaks_the_active_language():
    table = by_tier_table()
    table.series = ["revenue"]

    with translation.override("ru"):
        root = parse(chart_svg(table))

    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert any(
        "\xa0₽" in text and "\xa0" in text.replace("\xa0₽", "") for text in texts
    )


def test_crowded_labels_are_slanted_and_every_bar_is_drawn():
    table = by_tier_table()
    table.rows = [
        {"tier": f"Classic full-body massage {i}", "members": i + 1} for i in range(20)
    ]

    root = parse(chart_svg(table))

    bars = [r for r in root.iter(f"{SVG}rect") if "ch-bar" in r.get("class", "")]
    assert len(bars) == 20
    slanted = [t for t in root.iter(f"{SVG}text") if t.get("transform")]
    assert slanted
    assert all(t.get("transform").startswith("rotate(-35") for t in slanted)


def test_few_short_labels_stay_level():
    root = parse(chart_svg(by_tier_table()))

    assert not [t for t in root.iter(f"{SVG}text") if t.get("transform")]
