"""Who may call the API: members' sign-in tokens and one-time codes, POS keys.

Secrets are never stored: tokens and keys are kept as SHA-256 hashes of
high-entropy random strings (a slow hash buys nothing there), codes as salted
hashes. Only the short ``prefix`` is kept in clear, to tell keys apart.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import audited
from members.models.core import Location, Member


class _Credential(models.Model):
    """What a member token and a POS key share: a hashed secret, its use, revocation."""

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class MemberToken(_Credential):
    """A bearer token of the mobile app, issued by phone sign-in."""

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="tokens",
        verbose_name=_("member"),
    )
    device = models.CharField(_("device"), max_length=200, blank=True)
    # What the app says identifies the install, and where the sign-in came
    # from: the referrals app holds sign-ups sharing them with the referrer.
    device_id = models.CharField(
        _("device id"), max_length=128, blank=True, db_index=True
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("member token")
        verbose_name_plural = _("member tokens")
        indexes = [
            models.Index(fields=["member", "-created_at"], name="token_member_idx")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}…"


class ApiKey(_Credential):
    """A booking/POS system's key: it acts for one location only."""

    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        related_name="api_keys",
        verbose_name=_("location"),
    )
    name = models.CharField(_("name"), max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    history = audited(excluded_fields=["key_hash"])

    class Meta:
        ordering = ["location__name", "-created_at"]
        verbose_name = _("POS API key")
        verbose_name_plural = _("POS API keys")

    def __str__(self) -> str:
        return f"{self.location} · {self.prefix}…"


class OtpChallenge(models.Model):
    """A one-time sign-in code sent to a phone. At most one is live per phone."""

    phone = models.CharField(_("phone"), max_length=32, db_index=True)
    code_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("sign-in code")
        verbose_name_plural = _("sign-in codes")
        indexes = [
            models.Index(fields=["phone", "-created_at"], name="otp_phone_created_idx"),
            models.Index(fields=["ip", "-created_at"], name="otp_ip_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} · {self.created_at:%Y-%m-%d %H:%M}"


class OtpGuard(models.Model):
    """The brute-force counter of one phone: wrong codes in a row, and a lock.

    Its row is locked (``select_for_update``) by every verification of the
    phone, so parallel guesses are counted one by one; throttling alone is not
    a security control.
    """

    phone = models.CharField(_("phone"), max_length=32, unique=True)
    failures = models.PositiveIntegerField(_("wrong codes in a row"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("sign-in lock")
        verbose_name_plural = _("sign-in locks")
        constraints = [
            models.CheckConstraint(
                condition=Q(failures__gte=0), name="otp_guard_failures_not_negative"
            )
        ]

    def __str__(self) -> str:
        return self.phone
