from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The shared kernel every app may import: errors, locks, process caches."""

    name = "core"
    verbose_name = _("Platform")
    default_auto_field = "django.db.models.BigAutoField"
