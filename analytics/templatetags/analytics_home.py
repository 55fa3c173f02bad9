"""``{% analytics_home %}``: the manager's home on the admin index.

The admin's index view is Django's own; this tag reads the home for the
request's user (``analytics.home.home_for``) and renders
``analytics/home.html`` with the figures already put in words, in the active
language.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils import timezone
from django.utils.formats import date_format, number_format, time_format
from django.utils.translation import gettext as _

from analytics.home import Home, Periods, home_for
from analytics.tables import Kpi
from members.money import money_text

register = template.Library()


def _number(value, places: int = 0) -> str:
    value = Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return number_format(value, places, use_l10n=True, force_grouping=True)


def figure_text(value, unit: str) -> str:
    """A figure as the admin writes it: money with its sign, counts and
    points grouped by thousands."""
    if value is None:
        return "—"
    if unit == "money":
        return money_text(value)
    if unit == "percent":
        return f"{_number(value * 100, 1)}\u00a0%"
    return _number(value)


def change_of(kpi: Kpi) -> dict:
    """The change against ``kpi.previous``: a signed percentage and its way
    ("up", "down", "flat"; "" when there is nothing to compare with)."""
    value, previous = kpi.value or 0, kpi.previous
    if previous is None:
        return {"text": "", "trend": ""}
    if value == previous:
        return {"text": "±0\u00a0%", "trend": "flat"}
    if not previous:  # from nothing: no percentage, the way only
        return {
            "text": "▲" if value > 0 else "▼",
            "trend": "up" if value > 0 else "down",
        }
    percent = (Decimal(value) - Decimal(previous)) * 100 / abs(Decimal(previous))
    arrow, sign = ("▲", "+") if percent > 0 else ("▼", "−")
    return {
        "text": f"{arrow}\u00a0{sign}{_number(abs(percent))}\u00a0%",
        "trend": "up" if percent > 0 else "down",
    }


def card(kpi: Kpi) -> dict:
    return {
        "key": kpi.key,
        "label": kpi.label,
        "value": figure_text(kpi.value, kpi.unit),
        "previous": figure_text(kpi.previous, kpi.unit),
        "change": change_of(kpi),
        "definition": kpi.definition,
    }


def _day(moment) -> str:
    return date_format(timezone.localtime(moment), "j E")


def captions(periods: Periods) -> dict:
    today_end = timezone.localtime(periods.today.end)
    previous = periods.previous_month
    return {
        "today": _("Today so far, against yesterday up to %(time)s.")
        % {"time": time_format(today_end, "H:i")},
        "month": _("This month so far, against %(start)s – %(end)s.")
        % {"start": _day(previous.start), "end": _day(previous.end)},
    }


def home_context(home: Home) -> dict:
    """The home's blocks in words, for ``analytics/home.html``."""
    context = {"home": home, "captions": captions(home.periods)}
    if home.figures is not None:
        context["today"] = [card(k) for k in home.figures.today]
        context["month"] = [card(k) for k in home.figures.month]
    elif home.visits_today is not None:
        context["today"] = [card(home.visits_today)]
    health = home.health
    if health is not None:
        context["health"] = {
            "roi": "—" if health.roi is None else f"{_number(health.roi, 2)}\u00a0×",
            "incremental": money_text(health.incremental_revenue),
            "active": _number(health.active_members),
        }
    context["alerts_total"] = sum(a.count for a in home.alerts)
    return context


@register.inclusion_tag("analytics/home.html", takes_context=True)
def analytics_home(context) -> dict:
    request = context["request"]
    return home_context(home_for(request.user))
