"""The staff who perform services: specialists (masters, therapists…)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.models.core import Location


class Specialist(models.Model):
    """Who performs a visit's services, at the locations they work in.

    ``user`` links the specialist to their staff account, if they have one.
    """

    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(
        _("code"),
        max_length=40,
        unique=True,
        help_text=_("Short stable identifier used by integrations and reports."),
    )
    locations = models.ManyToManyField(
        Location,
        related_name="specialists",
        blank=True,
        verbose_name=_("locations"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("staff user"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("specialist")
        verbose_name_plural = _("specialists")

    def __str__(self) -> str:
        return self.name
