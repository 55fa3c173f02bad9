"""What each staff role may do in the rewards app.

Merged with the other apps' ``ROLE_PERMISSIONS`` by ``manage.py setup_roles``
(``members.platform_services.roles_sync``). The checkout page needs
``members.add_visit``, which the members app already grants to the front desk
and the manager.
"""

from members.roles import ANALYST, FRONT_DESK, MANAGER

# Edited in the admin: the program's rules and its catalogue.
_SETTINGS = ["programsettings", "categoryearnrate", "tier", "reward"]
# Written only by services (checkout, jobs, actions): read-only in the admin.
_RECORDS = ["wallet", "ledgerentry", "tierchange", "voucher", "jobrun", "expirynotice"]

ROLE_PERMISSIONS = {
    MANAGER: [
        *(f"rewards.view_{model}" for model in _SETTINGS + _RECORDS),
        *(f"rewards.change_{model}" for model in _SETTINGS),
        # The settings row is a singleton made by the migration: no add.
        *(f"rewards.add_{model}" for model in _SETTINGS if model != "programsettings"),
        # A category's own rate can be dropped (it falls back to the base rate);
        # tiers and rewards are switched off, never deleted: history points at them.
        "rewards.delete_categoryearnrate",
        "rewards.adjust_points",
        "rewards.override_tier",
        "rewards.cancel_voucher",
    ],
    FRONT_DESK: [
        "rewards.view_wallet",
        "rewards.view_ledgerentry",
        "rewards.view_tierchange",
        "rewards.view_voucher",
        "rewards.view_reward",
        "rewards.view_tier",
        "rewards.cancel_voucher",
    ],
    ANALYST: [f"rewards.view_{model}" for model in _SETTINGS + _RECORDS],
}
