"""What each staff role may do in the members app.

``manage.py setup_roles`` gathers the ``ROLE_PERMISSIONS`` of every app's
``roles`` module and grants them to the groups of the same name.
"""

from django.utils.translation import gettext_lazy as _

MANAGER = "Manager"
FRONT_DESK = "Front desk"
ANALYST = "Analyst"

ROLE_DESCRIPTIONS = {
    MANAGER: _("Runs the program: catalogue, members, visits, refunds."),
    FRONT_DESK: _("Finds clients, registers them and records their visits."),
    ANALYST: _("Reads everything, changes nothing."),
}

_CATALOGUE = ["location", "servicecategory", "service"]

ROLE_PERMISSIONS = {
    MANAGER: [
        *(
            f"members.{verb}_{model}"
            for model in _CATALOGUE
            for verb in ("view", "add", "change")
        ),
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.view_visit",
        "members.add_visit",
        "members.cancel_visit",
        "members.refund_visit",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
    ],
    FRONT_DESK: [
        *(f"members.view_{model}" for model in _CATALOGUE),
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.view_visit",
        "members.add_visit",
        "members.cancel_visit",
    ],
    ANALYST: [
        *(f"members.view_{model}" for model in _CATALOGUE),
        "members.view_member",
        "members.view_visit",
        "django_celery_beat.view_periodictask",
    ],
}
