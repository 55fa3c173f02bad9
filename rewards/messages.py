"""The messages the rewards app sends (``members.messaging.types``)."""

from django.utils.translation import gettext_lazy as _

MESSAGE_TYPES = {
    "points_expiring": _("Points expire soon"),
    "voucher_issued": _("Voucher issued"),
}
