"""The outbox: every message Regulars sends, on every channel, is a row here.

OTP codes, points-expiring notices, voucher notices and (later) campaigns all
queue a ``Message``; a Celery task delivers it through the channel's backend
(``members.messaging.backends``), with retries and backoff. Rendering happens
when the message is queued, so the row shows exactly what was (to be) sent.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.admin_text import recipient_masked
from members.models.core import Member


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    PUSH = "push", _("Push")
    IN_APP = "in_app", _("In-app inbox")


class MessageTemplate(models.Model):
    """The text of one kind of message for one channel and language.

    ``body`` and ``subject`` are Django templates rendered with the context the
    sender passes (e.g. ``{{ code }}``, ``{{ points }}``, ``{{ member.first_name }}``).
    """

    key = models.SlugField(
        _("key"),
        max_length=60,
        help_text=_("What the message is, e.g. otp_code, points_expiring."),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject / title"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["key", "channel", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["key", "channel", "language"], name="message_template_unique"
            )
        ]

    def __str__(self) -> str:
        from members.messaging.types import message_type_label  # noqa: PLC0415

        return (
            f"{message_type_label(self.key)} · {self.get_channel_display()}"
            f" · {self.language}"
        )


class Message(models.Model):
    """One message to one recipient on one channel, and what became of it."""

    Channel = Channel

    class Kind(models.TextChoices):
        TRANSACTIONAL = "transactional", _("Transactional")
        MARKETING = "marketing", _("Marketing")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    member = models.ForeignKey(
        Member,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("member"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    kind = models.CharField(
        _("kind"), max_length=16, choices=Kind.choices, default=Kind.TRANSACTIONAL
    )
    recipient = models.CharField(
        _("recipient"),
        max_length=254,
        blank=True,
        help_text=_("Phone, email address or device; empty for the in-app inbox."),
    )
    template_key = models.SlugField(_("template"), max_length=60)
    language = models.CharField(_("language"), max_length=8)
    context = models.JSONField(_("context"), default=dict, blank=True)
    subject = models.CharField(_("subject / title"), max_length=200, blank=True)
    body = models.TextField(_("body"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    skip_reason = models.CharField(_("why skipped"), max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    # Unique when set: a sender that may run twice (a retried job) passes one.
    dedupe_key = models.CharField(
        _("deduplication key"), max_length=150, null=True, blank=True, unique=True
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    not_before = models.DateTimeField(
        _("send not before"),
        null=True,
        blank=True,
        help_text=_("Held back until then, e.g. until quiet hours end."),
    )
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    provider_id = models.CharField(_("provider's id"), max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        permissions = [("resend_message", _("Can resend a message"))]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="message_member_idx"),
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=Q(status="queued"),
                name="message_due_idx",
            ),
            models.Index(fields=["-created_at"], name="message_created_idx"),
        ]

    def __str__(self) -> str:
        # Masked like a member's text: it titles pages every role may read.
        from members.messaging.types import message_type_label  # noqa: PLC0415

        to = recipient_masked(self.recipient) or self.member_id
        return f"{message_type_label(self.template_key)} → {to}"
