"""The dashboards' filters: a period (or a preset), a location, a tier and a
specialist, read from the page's query string.

The form turns them into ``analytics.tables.Filters``; an invalid question
(the end before the start, a period over ``MAX_DAYS``, an id that does not
exist) is a form error shown on the page, and no dashboard query runs.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from analytics.db import reading
from analytics.tables import Filters
from members.models import Location, Specialist
from rewards.models import Tier

# Five years: the longest question the daily aggregates answer in time.
MAX_DAYS = 5 * 365 + 1
DEFAULT_PRESET = "last30"


def program_today() -> date:
    """Today in the program's time zone (``settings.TIME_ZONE``), whatever
    zone the request activated."""
    return timezone.localtime(
        timezone.now(), zoneinfo.ZoneInfo(settings.TIME_ZONE)
    ).date()


def _month_start(day: date, back: int = 0) -> date:
    month = day.year * 12 + day.month - 1 - back
    return date(month // 12, month % 12 + 1, 1)


def preset_period(preset: str, today: date) -> tuple[date, date]:
    """The [from, to] of a preset, both included.

    ``last30``: the 30 days ending today; ``this_month``: from the 1st to
    today; ``last_month``: the whole previous month; ``last12``: the current
    month and the 11 before it, whole months (so monthly charts have 12 bars).
    """
    if preset == "last30":
        return today - timedelta(days=29), today
    if preset == "this_month":
        return _month_start(today), today
    if preset == "last_month":
        start = _month_start(today, 1)
        return start, _month_start(today) - timedelta(days=1)
    if preset == "last12":
        return _month_start(today, 11), today
    raise ValueError(preset)


PRESETS = [
    ("last30", _("Last 30 days")),
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("last12", _("Last 12 months")),
]


class FiltersForm(forms.Form):
    """Bound to ``request.GET``; empty means the last 30 days, everything."""

    preset = forms.ChoiceField(
        label=_("Period"), choices=[("", _("Dates below"))] + PRESETS, required=False
    )
    date_from = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    location = forms.ModelChoiceField(
        label=_("Location"),
        queryset=Location.objects.none(),
        required=False,
        empty_label=_("All locations"),
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"),
        queryset=Tier.objects.none(),
        required=False,
        empty_label=_("All tiers"),
    )
    specialist = forms.ModelChoiceField(
        label=_("Specialist"),
        queryset=Specialist.objects.none(),
        required=False,
        empty_label=_("All specialists"),
    )

    def __init__(self, data=None, *, today: date | None = None, **kwargs):
        # An unbound form is the default question: bind it to nothing, so
        # ``is_valid()`` works the same for "no filters" and "some filters".
        super().__init__(data if data is not None else {}, **kwargs)
        self.today = today or program_today()
        db = reading()
        self.fields["location"].queryset = Location.objects.using(db).order_by("name")
        self.fields["tier"].queryset = Tier.objects.using(db).order_by("rank")
        self.fields["specialist"].queryset = Specialist.objects.using(db).order_by(
            "name"
        )

    def clean(self):
        cleaned = super().clean()
        preset = cleaned.get("preset")
        if preset:
            cleaned["date_from"], cleaned["date_to"] = preset_period(preset, self.today)
        elif "date_from" in self.errors or "date_to" in self.errors:
            return cleaned
        else:
            start, end = preset_period(DEFAULT_PRESET, self.today)
            date_from = cleaned.get("date_from")
            date_to = cleaned.get("date_to")
            if date_from is None and date_to is None:
                date_from, date_to = start, end
            elif date_to is None:
                date_to = max(date_from, self.today)
            elif date_from is None:
                date_from = date_to - (end - start)
            cleaned["date_from"], cleaned["date_to"] = date_from, date_to
        date_from, date_to = cleaned["date_from"], cleaned["date_to"]
        if date_to < date_from:
            self.add_error(
                "date_to",
                forms.ValidationError(
                    _("The end of the period is before its start."),
                    code="period_reversed",
                ),
            )
        elif (date_to - date_from).days + 1 > MAX_DAYS:
            self.add_error(
                "date_to",
                forms.ValidationError(
                    _("A period may be at most five years long."),
                    code="period_too_long",
                ),
            )
        return cleaned

    def filters(self) -> Filters:
        """The question, once the form is valid."""
        data = self.cleaned_data
        return Filters(
            date_from=data["date_from"],
            date_to=data["date_to"],
            location_id=data["location"].pk if data.get("location") else None,
            tier_id=data["tier"].pk if data.get("tier") else None,
            specialist_id=data["specialist"].pk if data.get("specialist") else None,
        )


def filters_query(f: Filters) -> dict[str, str]:
    """``f`` as query parameters: exports and the other dashboards ask the
    same question (the preset resolved to its dates, so a link keeps meaning
    the same period)."""
    params = {"date_from": f.date_from.isoformat(), "date_to": f.date_to.isoformat()}
    for name, value in (
        ("location", f.location_id),
        ("tier", f.tier_id),
        ("specialist", f.specialist_id),
    ):
        if value is not None:
            params[name] = str(value)
    return params


def filters_querystring(f: Filters, **extra: str) -> str:
    return urlencode({**filters_query(f), **extra})
