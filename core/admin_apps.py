"""The admin app with Regulars' staff sign-in (``core.staff_auth``)."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """Django's admin with the staff sign-in of ``core.staff_auth``."""

    default_site = "core.staff_auth.StaffAdminSite"

    def ready(self):
        super().ready()
        from django.contrib.auth.signals import user_logged_in

        from core.staff_auth import remember_second_factor

        user_logged_in.connect(remember_second_factor, dispatch_uid="staff_2fa")
