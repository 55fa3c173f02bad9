"""How a member joined (``Member.joined_via``): the backfill of members who
joined before it was recorded.

A friend's code at sign-up (``signup_referral_code``) makes a referral; the
rest stay at the column's default, the till. Imported members cannot be told
apart afterwards: the imports keep no link to the members they created (an
``ImportJob`` records only its counts), so they stay at the till too.
"""

from __future__ import annotations

REFERRAL = "referral"
TILL = "till"


def joined_via_backfill(apps_or_models=None) -> int:
    """Set ``joined_via`` from what the members table already tells; return
    the number of members changed. Set-based: one UPDATE.

    ``apps_or_models``: a migration's ``apps``, or ``None`` for the current
    models. Only members still at the default are changed, so running it again
    (or after new members were recorded) changes nothing it should not.
    """
    if apps_or_models is None:
        from django.apps import apps as apps_or_models
    member_model = apps_or_models.get_model("members", "Member")
    return (
        member_model.objects.filter(joined_via=TILL)
        .exclude(signup_referral_code="")
        .update(joined_via=REFERRAL)
    )
