"""What each staff role may do with webhooks (merged by ``manage.py setup_roles``).

Only managers (and superusers): endpoints carry signing secrets and decide
where members' data goes. Deliveries and attempts are written by the worker
only, so managers view them and replay, never edit.
"""

# ``members.roles.MANAGER``: webhooks sits below members and may not import it.
MANAGER = "Manager"

ROLE_PERMISSIONS = {
    MANAGER: [
        "webhooks.view_endpoint",
        "webhooks.add_endpoint",
        "webhooks.change_endpoint",
        "webhooks.delete_endpoint",
        "webhooks.view_delivery",
        "webhooks.replay_delivery",
        "webhooks.view_attempt",
    ],
}
