"""The messages the referrals app sends (``members.messaging.types``)."""

from django.utils.translation import gettext_lazy as _

MESSAGE_TYPES = {
    "referral_signed_up": _("A friend joined"),
    "referral_rewarded": _("Referral bonus paid"),
    "referral_welcome": _("Welcome of an invited friend"),
}
