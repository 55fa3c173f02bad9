"""The registry of dashboards: what each is called, where its selector lives
and who may open it.

Selectors are named by dotted path and imported when a page is opened, so the
pages (and this list) load before and without any one selector module. A
dashboard is added by adding an entry here: the index, the tab bar, the
exports and the benchmark all read this list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from analytics.tables import Dashboard, Filters

VIEW_DASHBOARDS = "analytics.view_dailystat"


@dataclass(frozen=True)
class DashboardEntry:
    key: str
    title: str
    selector: str
    permission: str = VIEW_DASHBOARDS
    description: str = ""

    def load(self) -> Callable[[Filters], Dashboard]:
        return import_string(self.selector)

    def allowed(self, user) -> bool:
        return user.is_active and user.is_staff and user.has_perm(self.permission)


DASHBOARDS: list[DashboardEntry] = [
    DashboardEntry(
        "members",
        _("Members"),
        "analytics.selectors.dashboard_members",
        description=_("Total, active, new and lost members, by tier and location."),
    ),
    DashboardEntry(
        "retention",
        _("Retention"),
        "analytics.selectors.dashboard_retention",
        description=_("New members' 30-day retention, cohorts by month, churn."),
    ),
    DashboardEntry(
        "repeat",
        _("Repeat visits"),
        "analytics.selectors.dashboard_repeat",
        description=_(
            "Repeat purchase rate, visit frequency, average check; members "
            "against anonymous visits."
        ),
    ),
    DashboardEntry(
        "ltv",
        _("Lifetime value"),
        "analytics.selectors_extra.dashboard_ltv",
        description=_(
            "Revenue per member over 12 months and lifetime, by tier and by how "
            "they joined; acquisition cost."
        ),
    ),
    DashboardEntry(
        "referrals",
        _("Referrals"),
        "analytics.selectors_extra.dashboard_referrals",
        description=_(
            "Invites, conversion, new clients through referrals, cost per client."
        ),
    ),
    DashboardEntry(
        "campaigns",
        _("Campaigns"),
        "analytics.selectors_extra.dashboard_campaigns",
        description=_("Reach, conversion, incremental revenue and ROI per campaign."),
    ),
    DashboardEntry(
        "points",
        _("Points"),
        "analytics.selectors.dashboard_points",
        description=_(
            "Points issued, redeemed and expired; breakage; outstanding liability."
        ),
    ),
    DashboardEntry(
        "specialists",
        _("Specialists and services"),
        "analytics.selectors_extra.dashboard_specialists",
        description=_(
            "Revenue, visits and repeat rate per specialist; top services; "
            "services bought together."
        ),
    ),
]


def dashboard_get(key: str) -> DashboardEntry | None:
    return next((entry for entry in DASHBOARDS if entry.key == key), None)


def dashboards_for(user) -> list[DashboardEntry]:
    """The dashboards ``user`` may open, in the registry's order."""
    return [entry for entry in DASHBOARDS if entry.allowed(user)]
