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

_CATALOGUE = ["location", "servicecategory", "service", "specialist"]

ROLE_PERMISSIONS = {
    MANAGER: [
        *(
            f"members.{verb}_{model}"
            for model in _CATALOGUE
            for verb in ("view", "add", "change")
        ),
        "members.view_member",
        "members.view_member_contacts",
        "members.add_member",
        "members.change_member",
        "members.change_member_registration",
        "members.erase_member",
        "members.view_visit",
        "members.add_visit",
        "members.cancel_visit",
        "members.refund_visit",
        # A price other than the service's, with a reason, beyond the
        # program's limit too.
        "members.change_visit_price",
        "members.approve_visit_price",
        # The outbox: read its history, resend, edit the message texts.
        "members.view_message",
        "members.resend_message",
        "members.view_messagetemplate",
        "members.add_messagetemplate",
        "members.change_messagetemplate",
        # API access: issue and revoke POS keys, revoke app sign-ins, unlock a
        # phone locked out by wrong codes ("change" = the revoke/unlock actions).
        "members.view_apikey",
        "members.add_apikey",
        "members.change_apikey",
        "members.view_membertoken",
        "members.change_membertoken",
        "members.view_otpguard",
        "members.change_otpguard",
        "members.view_otpchallenge",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
    ],
    FRONT_DESK: [
        *(f"members.view_{model}" for model in _CATALOGUE),
        "members.view_member",
        # Phones and birthdays: the desk calls clients and greets birthdays.
        "members.view_member_contacts",
        "members.add_member",
        "members.change_member",
        "members.view_visit",
        "members.add_visit",
        "members.cancel_visit",
        # "Did my code arrive?": the desk can look (codes stay hidden until sent).
        "members.view_message",
    ],
    ANALYST: [
        *(f"members.view_{model}" for model in _CATALOGUE),
        "members.view_member",
        "members.view_visit",
        "members.view_message",
        "members.view_messagetemplate",
        "django_celery_beat.view_periodictask",
    ],
}
