"""What each staff role may do in the analytics app.

Merged with the other apps' ``ROLE_PERMISSIONS`` by ``manage.py setup_roles``
(``members.platform_services.roles_sync``). Opening the dashboards is
``view_dailystat`` (``analytics.dashboards.VIEW_DASHBOARDS``): the money
dashboards are the manager's and the analyst's, not the front desk's. The
marketing spend per month (the CAC's denominator) is entered by the manager
and read by the analyst.
"""

from members.roles import ANALYST, MANAGER

ROLE_PERMISSIONS = {
    MANAGER: [
        "analytics.view_dailystat",
        "analytics.view_marketingspend",
        "analytics.add_marketingspend",
        "analytics.change_marketingspend",
    ],
    ANALYST: [
        "analytics.view_dailystat",
        "analytics.view_marketingspend",
    ],
}
