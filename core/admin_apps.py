"""The admin app with Regulars' staff sign-in (``core.staff_auth``)."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """Django's admin with the staff sign-in of ``core.staff_auth``."""

    default_site = "core.staff_auth.StaffAdminSite"
