"""What each staff role may do in the imports app.

Merged with the other apps' ``ROLE_PERMISSIONS`` by ``manage.py setup_roles``.
Importing files is the manager's (and a superuser's); the front desk and the
analyst do not see it.
"""

from members.roles import MANAGER

ROLE_PERMISSIONS = {
    MANAGER: ["imports.view_importjob", "imports.add_importjob"],
}
