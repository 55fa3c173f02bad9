"""What each staff role may do in the referrals app.

Merged with the other apps' ``ROLE_PERMISSIONS`` by ``manage.py setup_roles``
(``members.platform_services.roles_sync``). Referrals, their history and the
codes are written only by services, so nobody gets add, change or delete on
them; the manager edits the program's terms and reviews held referrals.
"""

from members.roles import ANALYST, FRONT_DESK, MANAGER

# Everything the admin shows: the program, the records, the review queue
# (``heldreferral``) and the per-referrer summary (``referrer``), both proxies
# with permissions of their own.
_VIEWABLE = [
    "referralprogram",
    "referral",
    "heldreferral",
    "referrer",
    "referralevent",
    "referralcode",
]

ROLE_PERMISSIONS = {
    MANAGER: [
        *(f"referrals.view_{model}" for model in _VIEWABLE),
        # The program row is a singleton made on first read: change, never add.
        "referrals.change_referralprogram",
        "referrals.review_referral",
    ],
    # "Did my friend's invitation count, and why not?", "whose code is this?":
    # the desk looks (the history answers "why"); it neither reviews nor sees
    # the fraud queue.
    FRONT_DESK: [
        "referrals.view_referral",
        "referrals.view_referralevent",
        "referrals.view_referralcode",
    ],
    ANALYST: [f"referrals.view_{model}" for model in _VIEWABLE],
}
