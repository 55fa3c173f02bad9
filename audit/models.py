"""The audit trail: one row per change of an audited object.

django-simple-history keeps each audited model's full versions in its own
``Historical…`` table (``audit.history.audited``); ``AuditEvent`` is the one
list across them all — who, when, from which IP, what, and the fields before
and after — that the admin searches. Written only by ``audit.history`` when a
version is saved; never changed or deleted from the admin.
"""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditedVersion(models.Model):
    """What every historical table adds to simple-history's own fields."""

    history_ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CREATED = "+", _("Created")
        CHANGED = "~", _("Changed")
        DELETED = "-", _("Deleted")

    at = models.DateTimeField(_("when"), db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("who"),
    )
    username = models.CharField(_("user name"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=1, choices=Action.choices)
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("kind"),
    )
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    changes = models.JSONField(
        _("changes"),
        default=dict,
        help_text=_("Each changed field: [before, after]."),
    )

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="audit_object_idx")
        ]

    def __str__(self) -> str:
        at = timezone.localtime(self.at)
        return f"{at:%Y-%m-%d %H:%M} {self.username or '—'} {self.object_repr}"
