from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # The holdout's bucket function, for SQLite connections (PostgreSQL
        # computes it with md5() in SQL): ``campaigns.holdout``.
        from campaigns import holdout

        holdout.install()
