"""``manage.py analytics_export``: the KPIs of a period as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest
import time_machine
from django.core.management import CommandError, call_command

from analytics.aggregates import aggregates_rebuild
from tests.analytics import test_aggregates_dataset as dataset
from tests.conftest import moscow

history = dataset.history


def export(*args) -> str:
    out = io.StringIO()
    call_command("analytics_export", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def aggregated(history):
    with time_machine.travel(moscow(2026, 6, 15, 12, 0), tick=False):
        aggregates_rebuild()
    return history


def test_csv_has_one_row_per_kpi_with_its_parts(aggregated):
    rows = list(
        csv.DictReader(
            io.StringIO(export("--from", "2026-03-01", "--to", "2026-03-31"))
        )
    )
    by_name = {r["name"]: r for r in rows}
    assert list(rows[0]) == ["name", "value", "numerator", "denominator"]
    assert len(rows) == 7
    assert by_name["repeat_purchase_rate"] == {
        "name": "repeat_purchase_rate",
        "value": "0.6667",
        "numerator": "2",
        "denominator": "3",
    }
    assert by_name["average_check_members"]["value"] == "2520.00"
    assert by_name["active_members"]["numerator"] == ""


def test_json_for_a_location(aggregated):
    out = export(
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--location",
        "chistye",
        "--format",
        "json",
    )
    by_name = {r["name"]: r for r in json.loads(out)}
    # At Chistye Prudy in March: m2 once (m4's visit was refunded in full).
    assert by_name["repeat_purchase_rate"]["numerator"] == 0
    assert by_name["repeat_purchase_rate"]["denominator"] == 1
    assert by_name["average_check_members"]["value"] == "2600.00"
    assert by_name["new_member_retention_30d"]["value"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "2026-03-31"], "--from and --to are required"),
        (["--from", "2026-03-01", "--to", "31.03.2026"], "Bad --to"),
        (["--from", "2026-03-31", "--to", "2026-03-01"], "is before"),
        (
            ["--from", "2026-03-01", "--to", "2026-03-31", "--location", "nowhere"],
            "No location with code 'nowhere'",
        ),
        (
            ["--from", "2026-03-01", "--to", "2026-03-31", "--tier", "diamond"],
            "No tier with code 'diamond'",
        ),
    ],
)
def test_bad_arguments_are_a_clear_command_error(db, args, message):
    with pytest.raises(CommandError, match=message):
        export(*args)


def test_an_unknown_format_is_refused(db):
    with pytest.raises(CommandError, match="invalid choice"):
        export("--from", "2026-03-01", "--to", "2026-03-31", "--format", "xml")
