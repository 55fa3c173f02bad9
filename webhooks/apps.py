from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    """Event webhooks: signed HTTP POSTs to integrations when things happen.

    At the bottom of the dependency order: imports ``core`` and Django only;
    members, rewards and referrals call ``webhooks.services.event_emit``.
    """

    name = "webhooks"
    verbose_name = _("Webhooks")
    default_auto_field = "django.db.models.BigAutoField"
