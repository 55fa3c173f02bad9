"""What each staff role may do in the campaigns app.

Merged with the other apps' ``ROLE_PERMISSIONS`` by ``manage.py setup_roles``
(``members.platform_services.roles_sync``, which reads every installed app's
``roles`` module). Redemptions are written only by the checkout
(``campaigns.flow``): everyone may at most look at them, nobody deletes them.
"""

from members.roles import ANALYST, FRONT_DESK, MANAGER

_EDITABLE = ["promotion", "promotiongroup", "promocode"]
_CAMPAIGN_MODELS = [
    "campaign",
    "campaignstep",
    "enrollment",
    "campaignsend",
    "campaignsettings",
]

ROLE_PERMISSIONS = {
    MANAGER: [
        *(
            f"campaigns.{verb}_{model}"
            for model in _EDITABLE
            for verb in ("view", "add", "change")
        ),
        "campaigns.view_redemption",
        # Segments: who the program talks to; the built-in ones cannot be
        # deleted, nor one a promotion uses (``SegmentAdmin``).
        *(f"campaigns.{verb}_segment" for verb in ("view", "add", "change", "delete")),
        # Campaigns and their steps; enrollments and sends are written by the
        # runs (``campaigns.journeys``): looked at only.
        *(
            f"campaigns.{verb}_{model}"
            for model in ("campaign", "campaignstep")
            for verb in ("view", "add", "change")
        ),
        "campaigns.view_enrollment",
        "campaigns.view_campaignsend",
        "campaigns.view_campaignsettings",
        "campaigns.change_campaignsettings",
    ],
    # "Is this code valid, and what does it give?": the desk looks, never edits.
    FRONT_DESK: [
        "campaigns.view_promotion",
        "campaigns.view_promocode",
    ],
    ANALYST: [
        *(
            f"campaigns.view_{model}"
            for model in [*_EDITABLE, "segment", "memberscore"]
        ),
        "campaigns.view_redemption",
        "campaigns.view_promotionusage",
        *(f"campaigns.view_{model}" for model in _CAMPAIGN_MODELS),
    ],
}
