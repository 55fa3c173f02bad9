"""The dashboards' filters: defaults, presets, and errors instead of queries."""

from datetime import date

import pytest
import time_machine

from analytics.forms import FiltersForm, filters_query, preset_period
from analytics.tables import Filters
from members.models import Specialist
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 15)


def valid(data, today=TODAY) -> Filters:
    form = FiltersForm(data, today=today)
    assert form.is_valid(), form.errors
    return form.filters()


def test_no_filters_mean_the_last_30_days_everywhere():
    assert valid({}) == Filters(date_from=date(2026, 2, 14), date_to=TODAY)


@time_machine.travel("2026-03-31 22:30:00+00:00", tick=False)
def test_today_is_the_programs_day_not_utcs():
    # 22:30 UTC on 31 March is 01:30 on 1 April in Moscow.
    form = FiltersForm({})
    assert form.is_valid()
    assert form.filters().date_to == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("last30", date(2026, 2, 14), date(2026, 3, 15)),
        ("this_month", date(2026, 3, 1), date(2026, 3, 15)),
        ("last_month", date(2026, 2, 1), date(2026, 2, 28)),
        ("last12", date(2025, 4, 1), date(2026, 3, 15)),
    ],
)
def test_presets(preset, start, end):
    assert preset_period(preset, TODAY) == (start, end)
    f = valid({"preset": preset, "date_from": "2020-01-01"})
    assert (f.date_from, f.date_to) == (start, end)


def test_last_month_in_january_is_last_years_december():
    assert preset_period("last_month", date(2026, 1, 10)) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
    )


def test_dates_and_ids_become_the_filters():
    location = LocationFactory()
    specialist = Specialist.objects.create(name="Anna", code="anna")

    f = valid(
        {
            "date_from": "2026-01-01",
            "date_to": "2026-01-31",
            "location": str(location.pk),
            "specialist": str(specialist.pk),
        }
    )

    assert f == Filters(
        date_from=date(2026, 1, 1),
        date_to=date(2026, 1, 31),
        location_id=location.pk,
        specialist_id=specialist.pk,
    )
    # And back into a query string, for the export links and the tabs.
    assert filters_query(f) == {
        "date_from": "2026-01-01",
        "date_to": "2026-01-31",
        "location": str(location.pk),
        "specialist": str(specialist.pk),
    }


def test_only_a_start_runs_to_today():
    f = valid({"date_from": "2026-01-01"})
    assert (f.date_from, f.date_to) == (date(2026, 1, 1), TODAY)


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        (
            {"date_from": "2026-02-01", "date_to": "2026-01-01"},
            "date_to",
            "period_reversed",
        ),
        (
            {"date_from": "2020-01-01", "date_to": "2026-01-01"},
            "date_to",
            "period_too_long",
        ),
        ({"date_from": "yesterday"}, "date_from", "invalid"),
        ({"location": "999999"}, "location", "invalid_choice"),
        ({"tier": "abc"}, "tier", "invalid_choice"),
        ({"specialist": "999999"}, "specialist", "invalid_choice"),
        ({"preset": "forever"}, "preset", "invalid_choice"),
    ],
)
def test_invalid_filters_are_form_errors(data, field, code):
    form = FiltersForm(data, today=TODAY)

    assert not form.is_valid()
    assert code in [e["code"] for e in form.errors.get_json_data()[field]]


def test_five_years_is_the_longest_period():
    assert valid({"date_from": "2021-03-16", "date_to": "2026-03-15"})
